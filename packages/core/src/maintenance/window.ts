/** A daily time window in local time, e.g. 00:00–05:00 or 22:00–04:00 (crossing midnight). */
export interface MaintenanceWindow {
  startMinute: number;
  endMinute: number;
  text: string;
}

const WINDOW_RE = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$/;

/** Parses `HH:MM-HH:MM`; returns null when the text is not such a window. */
export function parseWindow(text: string): MaintenanceWindow | null {
  const m = WINDOW_RE.exec(text.trim());
  if (!m) return null;
  const startMinute = Number(m[1]) * 60 + Number(m[2]);
  const endMinute = Number(m[3]) * 60 + Number(m[4]);
  if (endMinute > 24 * 60 || startMinute === endMinute) return null;
  return { startMinute, endMinute, text: text.trim() };
}

/** True when `now` (local time) falls inside the window; the end minute is excluded. */
export function isInWindow(window: MaintenanceWindow, now: Date): boolean {
  const minute = now.getHours() * 60 + now.getMinutes();
  return window.startMinute < window.endMinute
    ? minute >= window.startMinute && minute < window.endMinute
    : minute >= window.startMinute || minute < window.endMinute;
}
