/**
 * Trace bookkeeping shared by the tensor constructor and the autodiff drivers.
 *
 * A trace records the graph while its function runs. Tensors created while at least one trace
 * records get a graph node and are pinned by every recording trace, so a `tidy` inside the traced
 * function cannot free values the backward or forward walk still needs; when the last trace that
 * pinned a tensor is released, its node is dropped (nothing keeps a node alive that no
 * transformation needs) and a deferred dispose happens.
 */
import type { Tensor } from './tensor.ts';

export class Trace {
  /** Tensors with id in [firstId, endId) were created while this trace recorded. */
  readonly firstId: number;
  endId = Number.POSITIVE_INFINITY;
  readonly pinned: Tensor[] = [];
  recording = true;
  released = false;

  constructor(firstId: number) {
    this.firstId = firstId;
  }

  owns(t: Tensor): boolean {
    return t.id >= this.firstId && t.id < this.endId;
  }
}

const recordingTraces: Trace[] = [];

export function isRecording(): boolean {
  return recordingTraces.length > 0;
}

export function recordingStack(): readonly Trace[] {
  return recordingTraces;
}

export function beginTrace(nextId: number): Trace {
  const trace = new Trace(nextId);
  recordingTraces.push(trace);
  return trace;
}

/** Stops recording for `trace` (it must be the innermost recording trace). */
export function stopRecording(trace: Trace, nextId: number): void {
  const top = recordingTraces[recordingTraces.length - 1];
  if (top !== trace) throw new Error('autodiff: traces must stop recording in LIFO order');
  recordingTraces.pop();
  trace.recording = false;
  trace.endId = nextId;
}

/**
 * Makes every recording trace that did not create them pin `tensors` too, as if they had been
 * created while it recorded: ops it recorded may read them, so they must outlive its walks (a
 * traced graph disposed inside a transformation that walked it). The trace frees them on release.
 */
export function pinToRecordingTraces(tensors: readonly Tensor[]): void {
  for (const trace of recordingTraces) {
    for (const t of tensors) {
      if (trace.owns(t) || t.isDisposed) continue;
      t.pin();
      trace.pinned.push(t);
    }
  }
}

/** Unpins everything the trace pinned; idempotent. */
export function releaseTrace(trace: Trace): void {
  if (trace.released) return;
  if (trace.recording) throw new Error('autodiff: cannot release a trace that is still recording');
  trace.released = true;
  for (const t of trace.pinned) t.unpin();
  trace.pinned.length = 0;
}
