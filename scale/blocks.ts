/**
 * The block grid of a kernel: block (row, col) covers x1 rows [row * B, ...) against x2 rows
 * [col * B, ...). With one dataset only blocks with col >= row are tasks (the upper triangle).
 * Tasks are numbered row by row, so an array-job index or a queue job names one block.
 */
export interface Block {
  readonly index: number;
  readonly row: number;
  readonly col: number;
  /** Kernel rows / columns this block covers (smaller than the block size at the edges). */
  readonly rows: number;
  readonly cols: number;
}

export function blockCount(gridRows: number, gridCols: number, symmetric: boolean): number {
  return symmetric ? (gridRows * (gridRows + 1)) / 2 : gridRows * gridCols;
}

/** The block of task `index` (0-based, row by row). */
export function blockAt(index: number, gridRows: number, gridCols: number, symmetric: boolean, blockSize: number, n1: number, n2: number): Block {
  const total = blockCount(gridRows, gridCols, symmetric);
  if (!Number.isInteger(index) || index < 0 || index >= total) throw new Error(`kernel blocks: block index ${index} is outside [0, ${total})`);
  let row: number;
  let col: number;
  if (!symmetric) {
    row = Math.floor(index / gridCols);
    col = index % gridCols;
  } else {
    // Row r starts at r * G - r (r - 1) / 2; walk rows (G is at most a few thousand).
    row = 0;
    let start = 0;
    while (start + (gridRows - row) <= index) {
      start += gridRows - row;
      row++;
    }
    col = row + (index - start);
  }
  return { index, row, col, rows: Math.min(blockSize, n1 - row * blockSize), cols: Math.min(blockSize, n2 - col * blockSize) };
}
