/**
 * Progress while a comparison runs, on stderr. On a terminal: live bars (`cli-progress`) — the
 * whole suite (runs done of all runs) and the current run (time, calls so far, calls/s) — with log
 * lines printed above them. Otherwise (a file, a pipe, CI): only the plain lines, one per finished
 * run, so a log stays readable.
 */
import { MultiBar, Presets, SingleBar } from 'cli-progress';
import { performance } from 'node:perf_hooks';

export interface ProgressOptions {
  /** Runs the suite will make (all scenarios × targets × rounds). */
  totalRuns: number;
  /** Live bars: default when stderr is a TTY. */
  live?: boolean;
  stream?: NodeJS.WriteStream;
}

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly multi: MultiBar | null;
  private readonly suite: SingleBar | null;
  private run: SingleBar | null = null;
  private runTimer: NodeJS.Timeout | null = null;
  private done = 0;

  constructor(options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    const live = options.live ?? this.stream.isTTY === true;
    if (!live) {
      this.multi = null;
      this.suite = null;
      return;
    }
    this.multi = new MultiBar(
      {
        stream: this.stream,
        format: ' {label} |{bar}| {value}/{total} {unit} {detail}',
        barsize: 32,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        autopadding: true,
        etaBuffer: 20,
        fps: 5,
      },
      Presets.shades_classic,
    );
    this.suite = this.multi.create(Math.max(1, options.totalRuns), 0, { label: 'suite'.padEnd(28), unit: 'runs', detail: '' });
  }

  get live(): boolean {
    return this.multi !== null;
  }

  /** A line above the bars (or on its own when not live). */
  log(line: string): void {
    if (this.multi !== null) this.multi.log(`${line}\n`);
    else this.stream.write(`${line}\n`);
  }

  /**
   * A run begins: `seconds` long (warm-up included) or `total` calls. Returns the callback that the
   * load calls with its completed count.
   */
  startRun(label: string, length: { seconds: number } | { total: number }): (completed: number) => void {
    this.endRun();
    if (this.multi === null) return () => undefined;
    const started = performance.now();
    const byTime = 'seconds' in length;
    const total = byTime ? Math.max(1, Math.ceil(length.seconds)) : Math.max(1, length.total);
    let completed = 0;
    let rate = 0;
    let last = { at: started, completed: 0 };
    const bar = this.multi.create(total, 0, { label: label.slice(0, 28).padEnd(28), unit: byTime ? 's' : 'calls', detail: '' });
    this.run = bar;
    const refresh = (): void => {
      const elapsed = (performance.now() - started) / 1000;
      bar.update(byTime ? Math.min(total, Math.floor(elapsed)) : Math.min(total, completed), { detail: completed === 0 ? '(warm-up)' : `${completed.toLocaleString('en-US')} calls measured, ${Math.round(rate).toLocaleString('en-US')}/s` });
    };
    this.runTimer = setInterval(refresh, 250);
    return (n: number) => {
      const now = performance.now();
      // The rate over the last progress interval (completions are reported about once a second).
      if (now - last.at >= 200) {
        rate = ((n - last.completed) * 1000) / (now - last.at);
        last = { at: now, completed: n };
      }
      completed = n;
      refresh();
    };
  }

  /** The current run ended: `line` is its one-line result (always printed). */
  endRun(line?: string): void {
    if (this.runTimer !== null) clearInterval(this.runTimer);
    this.runTimer = null;
    if (this.run !== null && this.multi !== null) this.multi.remove(this.run);
    this.run = null;
    if (line !== undefined) {
      this.done++;
      this.suite?.update(this.done);
      this.log(line);
    }
  }

  stop(): void {
    this.endRun();
    this.multi?.update(); // draws once more: lines logged since the last frame are written then
    this.multi?.stop();
  }
}
