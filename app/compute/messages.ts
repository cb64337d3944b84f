/** The messages between the page (app/main.ts) and its training worker (app/worker.ts). */
import type { GpView } from './gp.ts';
import type { NamedBytes } from './datasets.ts';
import type { AppSettings } from './settings.ts';
import type { AppStudyReport, NtkView, StudyLive } from './study.ts';
import type { SweepResult } from './sweep.ts';

export interface RunRequest {
  kind: 'run';
  settings: AppSettings;
  /** Absolute URL of the shipped MNIST subset (the worker's own URL is not the page's). */
  mnistUrl: string;
  /** User-picked CIFAR-10 files, for data = cifar2. */
  cifar: NamedBytes[];
  /** Which of the longer views to run after the study. */
  sweep: boolean;
  gp: boolean;
}

/** Asks which backend a run would use (the page shows it before the first run). */
export interface ProbeRequest {
  kind: 'probe';
  backend: AppSettings['backend'];
}

export type ToWorker = RunRequest | ProbeRequest;

/** report.json: the CLI study's report (cli/study.ts StudyReport fields) plus the app's views. */
export type AppReport = AppStudyReport & { widthSweep: SweepResult | null; gp: GpView | null };

export type WorkerMessage =
  | { kind: 'backend'; name: 'webgpu' | 'cpu'; reason: string }
  | { kind: 'data'; description: string }
  | { kind: 'progress'; phase: string; done: number; total: number }
  | { kind: 'study'; live: StudyLive }
  | { kind: 'ntk'; view: NtkView }
  | { kind: 'sweep'; result: SweepResult }
  | { kind: 'gp'; view: GpView }
  | { kind: 'done'; report: AppReport }
  | { kind: 'error'; message: string };
