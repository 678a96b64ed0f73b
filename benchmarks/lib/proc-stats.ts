/**
 * What a server process costs, read from Linux's /proc: CPU time (utime + stime of every thread),
 * resident memory now and at its peak, and the machine's total busy CPU (to see other load).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

let clockTicksPerSecond: number | null = null;

/** `getconf CLK_TCK` (the unit of /proc/<pid>/stat times), read once; 100 if unavailable. */
function clockTicks(): number {
  if (clockTicksPerSecond === null) {
    try {
      clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

/** User + system CPU time of process `pid` (all its threads), µs. Resolution: one clock tick (10 ms). */
export function readProcessCpuMicros(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may itself contain spaces and parentheses): field 3 first.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utimeTicks = Number(fields[11]);
  const stimeTicks = Number(fields[12]);
  if (!Number.isFinite(utimeTicks) || !Number.isFinite(stimeTicks)) throw new Error(`cannot parse /proc/${pid}/stat`);
  return ((utimeTicks + stimeTicks) * 1e6) / clockTicks();
}

export interface MemoryUsage {
  /** Resident set size now, bytes (VmRSS). */
  rssBytes: number;
  /** Peak resident set size, bytes (VmHWM): since start, or since `resetPeakRss`. */
  peakRssBytes: number;
}

/** Reads VmRSS and VmHWM of process `pid`. */
export function readProcessMemory(pid: number): MemoryUsage {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    if (m === null) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(m[1]) * 1024;
  };
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

/**
 * Resets the peak RSS of `pid` to its current RSS (writes 5 to /proc/<pid>/clear_refs), so that the
 * next VmHWM is the peak of one run. Returns false when the kernel or permissions do not allow it.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Busy CPU time of the whole machine (all cores, everything but idle and iowait), µs. */
export function readMachineBusyMicros(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [, ...values] = line.trim().split(/\s+/);
  const ticks = values.map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const busy = ticks[0]! + ticks[1]! + ticks[2]! + ticks[5]! + ticks[6]! + ticks[7]!;
  return (busy * 1e6) / clockTicks();
}

/** Whether `pid` is a live process. */
export function processExists(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}/stat`);
}
