// Public surface of the SMMUv3 hardware model: the device (registers, queues, commands), the
// translation side factory, ID-register features, and the shared contract types.
export * from './features.ts';
export * from './regfile.ts';
export * from './sanitizer.ts';
export * from './smmu.ts';
export * from './translate.ts';
export * from './types.ts';
