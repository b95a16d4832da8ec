/**
 * V8 flags for the server process. A young generation of 16 MiB from the start: the first
 * analysis of a large dump makes objects that mostly survive it (its spans), and with V8's
 * default start of 1 MiB every scavenge on the way up copies them again; this took 20-30 ms
 * off the first hover on a 1 MiB dump (bench/README.md, "Language server"). Idle memory is
 * unchanged: the pages are touched only when used.
 */
export const SERVER_EXEC_ARGV = ['--min-semi-space-size=16'];
