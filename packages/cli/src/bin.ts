#!/usr/bin/env node
import { processIo, runProgram } from '@ora/harness';
import { program } from './program.js';

process.exitCode = await runProgram(program, process.argv.slice(2), processIo());
