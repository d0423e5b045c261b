// Light / dark theme: 'system' follows prefers-color-scheme; 'light' and 'dark' override it
// through <html data-theme>. The choice is kept in localStorage.

export type ThemeChoice = 'system' | 'light' | 'dark';

const KEY = 'qlora-studio.theme';
export const THEME_ORDER: ThemeChoice[] = ['system', 'light', 'dark'];

export function loadTheme(): ThemeChoice {
  try {
    const v = localStorage.getItem(KEY);
    if (v === 'light' || v === 'dark' || v === 'system') return v;
  } catch {
    // storage blocked (private mode, sandbox): fall back to the system theme
  }
  return 'system';
}

export function applyTheme(choice: ThemeChoice): void {
  const root = document.documentElement;
  if (choice === 'system') delete root.dataset.theme;
  else root.dataset.theme = choice;
}

export function saveTheme(choice: ThemeChoice): void {
  try {
    localStorage.setItem(KEY, choice);
  } catch {
    // not persisted; the choice still applies to this page
  }
}

export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return THEME_ORDER[(THEME_ORDER.indexOf(choice) + 1) % THEME_ORDER.length];
}
