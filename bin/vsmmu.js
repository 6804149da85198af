#!/usr/bin/env node
// CLI entry: runs the TypeScript sources directly through tsx's loader (no build step needed).
import { register } from 'tsx/esm/api';

register();
const cli = await import('../src/cli/main.ts');
cli.main();
