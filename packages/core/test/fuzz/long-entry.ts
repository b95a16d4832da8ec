/** What bench/fuzz-long.mjs bundles: the harness and the fast-check it draws inputs with. */
export { default as fc } from 'fast-check';
export * from './harness.js';
