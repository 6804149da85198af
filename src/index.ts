// vsmmu's public API: each layer's surface, also reachable as subpath exports
// (`vsmmu/arch`, `vsmmu/mem`, `vsmmu/pgtable`, `vsmmu/smmu`).
export * from './arch/index.ts';
export * from './mem/index.ts';
export * from './pgtable/index.ts';
