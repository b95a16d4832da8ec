/**
 * A small double of the `vscode` module: the value types the extension constructs (Uri,
 * EventEmitter, TreeItem, Diagnostic, ...) behave like the real ones; the namespaces hold only
 * what the code under test calls, and `window` answers dialogs from a queue the test fills.
 */
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly authority: string,
    readonly path: string,
    readonly query: string,
    readonly fragment: string,
  ) {}

  static parse(value: string): Uri {
    const m = /^([a-zA-Z][\w+.-]*):(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/.exec(value);
    if (!m) throw new Error(`mock Uri.parse: cannot parse ${value}`);
    return new Uri(m[1]!, m[2] ?? '', decodeURIComponent(m[3] ?? ''), decodeURIComponent(m[4] ?? ''), decodeURIComponent(m[5] ?? ''));
  }
  static file(path: string): Uri {
    return new Uri('file', '', path, '', '');
  }
  static from(c: { scheme: string; authority?: string; path?: string; query?: string; fragment?: string }): Uri {
    return new Uri(c.scheme, c.authority ?? '', c.path ?? '', c.query ?? '', c.fragment ?? '');
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    const path = [base.path.replace(/\/$/, ''), ...parts].join('/');
    return base.with({ path });
  }
  with(c: { scheme?: string; authority?: string; path?: string; query?: string; fragment?: string }): Uri {
    return new Uri(c.scheme ?? this.scheme, c.authority ?? this.authority, c.path ?? this.path, c.query ?? this.query, c.fragment ?? this.fragment);
  }
  get fsPath(): string {
    return this.scheme === 'file' ? fileURLToPath(pathToFileURL(this.path)) : this.path;
  }
  toString(): string {
    const enc = (s: string) => s.split('/').map(encodeURIComponent).join('/');
    return `${this.scheme}:${this.authority || this.scheme === 'file' ? `//${this.authority}` : ''}${enc(this.path)}${this.query ? `?${encodeURIComponent(this.query)}` : ''}${this.fragment ? `#${encodeURIComponent(this.fragment)}` : ''}`;
  }
  toJSON(): string {
    return this.toString();
  }
}

export const FileType = { Unknown: 0, File: 1, Directory: 2, SymbolicLink: 64 } as const;
export const FilePermission = { Readonly: 1 } as const;

export class FileSystemError extends Error {
  constructor(
    message: string,
    readonly code = 'Unknown',
  ) {
    super(message);
    this.name = `FileSystemError (${code})`;
  }
  private static make(code: string, x?: string | Uri): FileSystemError {
    return new FileSystemError(x === undefined ? code : String(x), code);
  }
  static FileNotFound = (x?: string | Uri) => FileSystemError.make('FileNotFound', x);
  static FileExists = (x?: string | Uri) => FileSystemError.make('FileExists', x);
  static FileNotADirectory = (x?: string | Uri) => FileSystemError.make('FileNotADirectory', x);
  static FileIsADirectory = (x?: string | Uri) => FileSystemError.make('FileIsADirectory', x);
  static NoPermissions = (x?: string | Uri) => FileSystemError.make('NoPermissions', x);
  static Unavailable = (x?: string | Uri) => FileSystemError.make('Unavailable', x);
}

export class Disposable {
  constructor(private readonly fn: () => void) {}
  dispose(): void {
    this.fn();
  }
}

export class EventEmitter<T> {
  private listeners: ((e: T) => void)[] = [];
  readonly event = (listener: (e: T) => void): Disposable => {
    this.listeners.push(listener);
    return new Disposable(() => (this.listeners = this.listeners.filter((l) => l !== listener)));
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export const TreeItemCollapsibleState = { None: 0, Collapsed: 1, Expanded: 2 } as const;

export class ThemeIcon {
  static readonly File = new ThemeIcon('file');
  static readonly Folder = new ThemeIcon('folder');
  constructor(readonly id: string) {}
}

export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: string;
  contextValue?: string;
  iconPath?: ThemeIcon;
  resourceUri?: Uri;
  command?: { command: string; title: string; arguments?: unknown[] };
  constructor(
    readonly label: string,
    readonly collapsibleState: number = TreeItemCollapsibleState.None,
  ) {}
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}
export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: number, b: number, c: number, d: number) {
    this.start = new Position(a, b);
    this.end = new Position(c, d);
  }
}
export class Location {
  constructor(
    readonly uri: Uri,
    readonly range: Range,
  ) {}
}
export const DiagnosticSeverity = { Error: 0, Warning: 1, Information: 2, Hint: 3 } as const;
export class DiagnosticRelatedInformation {
  constructor(
    readonly location: Location,
    readonly message: string,
  ) {}
}
export class Diagnostic {
  source?: string;
  code?: string | { value: string; target: Uri };
  relatedInformation?: DiagnosticRelatedInformation[];
  constructor(
    readonly range: Range,
    readonly message: string,
    readonly severity: number = DiagnosticSeverity.Error,
  ) {}
}

/** A diagnostic collection that keeps what it is given. */
export function createDiagnosticCollection(): { set(u: Uri, d: Diagnostic[]): void; get(u: Uri): Diagnostic[] | undefined; delete(u: Uri): void; forEach(f: (u: Uri, d: Diagnostic[]) => void): void; entries(): [Uri, Diagnostic[]][]; dispose(): void } {
  const m = new Map<string, [Uri, Diagnostic[]]>();
  return {
    set: (u, d) => void m.set(u.toString(), [u, d]),
    get: (u) => m.get(u.toString())?.[1],
    delete: (u) => void m.delete(u.toString()),
    forEach: (f) => [...m.values()].forEach(([u, d]) => f(u, d)),
    entries: () => [...m.values()],
    dispose: () => m.clear(),
  };
}
export const languages = { createDiagnosticCollection };

/** Answers for the next dialogs, in order; a test that opens a dialog it did not expect fails. */
export const dialogAnswers: (Uri[] | undefined)[] = [];
export const dialogLog: unknown[] = [];
export const window = {
  async showOpenDialog(options: unknown): Promise<Uri[] | undefined> {
    dialogLog.push(options);
    if (dialogAnswers.length === 0) throw new Error('mock: unexpected showOpenDialog');
    return dialogAnswers.shift();
  },
};

export const workspace = {
  fs: {
    async stat(uri: Uri): Promise<{ type: number; size: number; ctime: number; mtime: number }> {
      if (uri.scheme !== 'file') throw FileSystemError.Unavailable(uri);
      try {
        const st = await stat(uri.fsPath);
        return { type: st.isDirectory() ? FileType.Directory : FileType.File, size: st.size, ctime: st.ctimeMs, mtime: st.mtimeMs };
      } catch {
        throw FileSystemError.FileNotFound(uri);
      }
    },
    async readDirectory(uri: Uri): Promise<[string, number][]> {
      try {
        return (await readdir(uri.fsPath, { withFileTypes: true })).map((d) => [d.name, d.isDirectory() ? FileType.Directory : FileType.File]);
      } catch {
        throw FileSystemError.FileNotFound(uri);
      }
    },
    async readFile(uri: Uri): Promise<Uint8Array> {
      return new Uint8Array(await readFile(uri.fsPath));
    },
    async writeFile(uri: Uri, content: Uint8Array): Promise<void> {
      await writeFile(uri.fsPath, content);
    },
    async createDirectory(uri: Uri): Promise<void> {
      await mkdir(uri.fsPath, { recursive: true });
    },
    async rename(from: Uri, to: Uri, opts?: { overwrite?: boolean }): Promise<void> {
      if (!opts?.overwrite && (await stat(to.fsPath).catch(() => undefined))) throw FileSystemError.FileExists(to);
      await rename(from.fsPath, to.fsPath);
    },
    async delete(uri: Uri): Promise<void> {
      await rm(uri.fsPath, { recursive: true });
    },
  },
};

/** An in-memory Memento. */
export function memento(): { get<T>(k: string): T | undefined; update(k: string, v: unknown): Promise<void>; keys(): string[] } {
  const m = new Map<string, unknown>();
  return {
    get: <T>(k: string) => m.get(k) as T | undefined,
    update: async (k, v) => void m.set(k, structuredClone(v)),
    keys: () => [...m.keys()],
  };
}
