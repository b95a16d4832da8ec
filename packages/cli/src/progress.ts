/** A one-line progress indicator on stderr, shown only on a terminal and at most 10 times a second. */
export class Progress {
  private last = 0;
  private shown = false;
  private readonly on: boolean;
  constructor(enabled: boolean) {
    this.on = enabled && process.stderr.isTTY === true && !process.env.CI;
  }
  update(text: string): void {
    if (!this.on) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    this.shown = true;
    process.stderr.write(`\r\x1b[K${text}`);
  }
  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}
