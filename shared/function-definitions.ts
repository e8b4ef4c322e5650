/**
 * Registers every function with the real Azure Functions v4 `app.*` calls and keeps the same
 * definitions in a list, so the local Functions host serves exactly what Azure would run.
 */
import functions from "@azure/functions";
import type { EventGridFunctionOptions, HttpFunctionOptions, StorageQueueFunctionOptions, TimerFunctionOptions } from "@azure/functions";

export type FunctionDefinition =
  | { readonly kind: "http"; readonly name: string; readonly options: HttpFunctionOptions }
  | { readonly kind: "eventGrid"; readonly name: string; readonly options: EventGridFunctionOptions }
  | { readonly kind: "storageQueue"; readonly name: string; readonly options: StorageQueueFunctionOptions }
  | { readonly kind: "timer"; readonly name: string; readonly options: TimerFunctionOptions };

const registered: FunctionDefinition[] = [];

/** Every function registered so far in this process (the local host reads this after importing `functions/`). */
export function registeredFunctions(): readonly FunctionDefinition[] {
  return registered;
}

export const register = {
  http(name: string, options: HttpFunctionOptions): void {
    registered.push({ kind: "http", name, options });
    functions.app.http(name, options);
  },
  eventGrid(name: string, options: EventGridFunctionOptions): void {
    registered.push({ kind: "eventGrid", name, options });
    functions.app.eventGrid(name, options);
  },
  storageQueue(name: string, options: StorageQueueFunctionOptions): void {
    registered.push({ kind: "storageQueue", name, options });
    functions.app.storageQueue(name, options);
  },
  timer(name: string, options: TimerFunctionOptions): void {
    registered.push({ kind: "timer", name, options });
    functions.app.timer(name, options);
  },
};
