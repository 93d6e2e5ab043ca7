// Test code reads JSON bodies loosely; production code validates what it parses.
declare global {
  interface Response {
    json<T = any>(): Promise<T>;
  }
}
export {};
