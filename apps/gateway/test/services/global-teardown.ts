/** Stops the services the global setup started. */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__FIELDLINE_SERVICES__?.stop();
  globalThis.__FIELDLINE_SERVICES__ = undefined;
}
