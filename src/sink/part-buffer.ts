import type { Table } from 'apache-arrow';
import { chunkTable } from './arrow-chunk.js';
import type { ScoredChunk, SinkLayout } from './sink.js';

/**
 * Scored chunks gathered into Parquet parts of exactly rows_per_file rows (the last one fewer),
 * for both Parquet sinks: local files and objects in a store.
 */
export class PartBuffer {
  private pending: Table[] = [];
  private rows = 0;

  constructor(
    private readonly rowsPerFile: number,
    private readonly layout: SinkLayout,
  ) {}

  /** Adds a chunk's rows; returns the parts they completed (a chunk may complete two). */
  add(chunk: ScoredChunk): Table[] {
    const full: Table[] = [];
    if (chunk.rows === 0) return full;
    let table = chunkTable(chunk, this.layout);
    while (table.numRows > 0) {
      const take = Math.min(this.rowsPerFile - this.rows, table.numRows);
      this.pending.push(take === table.numRows ? table : table.slice(0, take));
      this.rows += take;
      table = table.slice(take);
      if (this.rows >= this.rowsPerFile) full.push(this.take()!);
    }
    return full;
  }

  /** The rows buffered so far as one part, or undefined when there are none; the buffer is emptied. */
  take(): Table | undefined {
    if (this.pending.length === 0) return undefined;
    const table = this.pending.length === 1 ? this.pending[0]! : this.pending[0]!.concat(...this.pending.slice(1));
    this.clear();
    return table;
  }

  clear(): void {
    this.pending = [];
    this.rows = 0;
  }
}
