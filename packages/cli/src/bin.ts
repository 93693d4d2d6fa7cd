#!/usr/bin/env node
import { processIo, routeProcessWarnings, runProgram } from '@ora/harness';
import { program } from './program.js';

routeProcessWarnings();
process.exitCode = await runProgram(program, process.argv.slice(2), processIo());
