// The browser the e2e tests launch: Debian's Chromium, with WebGPU on SwiftShader.
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags of every launch; the no-WebGPU test drops --enable-unsafe-webgpu. */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-sandbox',
];
