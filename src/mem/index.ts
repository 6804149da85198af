// Public surface of the memory layer.
export * from './sparse-memory.ts';
