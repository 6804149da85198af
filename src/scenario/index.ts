// Public surface of the scenario language (issue 6 item 3; docs/scenarios.md): parse and validate
// scenario text, run it, render the result. `loadScenario` (file.ts) adds reading from disk for
// Node callers; everything exported here also runs in a browser.

export { checkScenario } from './check.ts';
export {
  type Diagnostic,
  formatDiagnostic,
  parseScenario,
  type Scenario,
  ScenarioError,
} from './load.ts';
export {
  createNestedMachine,
  guestRamAllocator,
  NESTED_RAM_BASE,
  type NestedDevice,
  type NestedMachine,
  type NestedMachineOptions,
} from './nested-machine.ts';
export {
  bytesHex,
  formatResult,
  formatTrace,
  type RunCounters,
  type RunResult,
  type RunSanitizer,
  type ScenarioTrace,
  type StepResult,
  type TraceSource,
} from './result.ts';
export { type RunOptions, runScenario } from './run.ts';
export {
  machineSchema,
  STEP_KINDS,
  STEP_SCHEMAS,
  type Step,
  type StepKind,
  scenarioJsonSchema,
  scenarioSchema,
} from './schema.ts';
export { UAPI_CONSTANTS, uapiConstant } from './uapi-names.ts';
