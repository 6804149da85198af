// Public surface of the translation-table layer: walker types, geometry, the io-pgtable-arm
// builder with its allocators, and the S1/S2/nested walker.
export * from './allocator.ts';
export * from './builder.ts';
export * from './format.ts';
export * from './types.ts';
export * from './walker.ts';
