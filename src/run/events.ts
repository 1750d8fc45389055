/** What a run reports while it works; the CLI renders it (progress line, JSON lines). */
export interface Progress {
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly totalRows: number | undefined;
  readonly elapsedMs: number;
}

export interface RunEvents {
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
  progress?(p: Progress): void;
}
