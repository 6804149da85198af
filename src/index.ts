// vsmmu's public API. The lower layers' names are exported flat; the kernel model and the VMM
// as namespaces (their UAPI codec names would collide with the field-table engine's). Every
// layer is also a subpath export: `vsmmu/arch`, `vsmmu/mem`, `vsmmu/pgtable`, `vsmmu/smmu`,
// `vsmmu/iommufd`, `vsmmu/vmm`.
export * from './arch/index.ts';
export * as iommufd from './iommufd/index.ts';
export * from './mem/index.ts';
export * from './pgtable/index.ts';
export * as smmu from './smmu/index.ts';
export * as vmm from './vmm/index.ts';
