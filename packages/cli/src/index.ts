export { COMMANDS, JOBS, program } from './program.js';
