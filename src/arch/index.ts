// Public surface of the arch layer: bit helpers, the field-table engine and every architectural
// structure (SMMUv3 registers, STE, CD, commands, events; VMSAv8-64 descriptors), errno table,
// error class and trace shapes.
export * from './bits.ts';
export * from './cd.ts';
export * from './cmd.ts';
export * from './decode-input.ts';
export * from './decode-view.ts';
export * from './errno.ts';
export * from './errors.ts';
export * from './evt.ts';
export * from './fields.ts';
export * from './pte.ts';
export * from './regs.ts';
export * from './smmu-values.ts';
export * from './ste.ts';
export * from './trace.ts';
