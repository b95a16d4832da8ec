/** The CLI's exit codes (also in `erofs-kit --help`). Dependency-free: the dispatcher uses them. */
export const EXIT_BAD = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 3;
