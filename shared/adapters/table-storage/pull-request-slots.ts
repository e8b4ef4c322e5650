import type { TableClient } from "@azure/data-tables";
import type { ProposingLease, PullRequestRecord, PullRequestSlot, StateStore } from "../../ports/state-store.js";
import { escapeKey } from "./table-keys.js";
import type { TableHelpers } from "./upstream-records.js";

/**
 * What one `pulls` row holds as JSON: the PullRequestRecord's fields (absent before the branch's first pull
 * request) and, under `proposing`, the branch's proposing lease. Rows written before the lease existed are
 * a bare record, which reads as a slot without a lease.
 */
type StoredSlot = Partial<PullRequestRecord> & { readonly proposing?: ProposingLease | null };

/** The pull-request part of the {@link StateStore}. */
export type PullRequestSlots = Pick<StateStore, "getPullRequest" | "savePullRequest" | "updatePullRequestSlot" | "listPullRequests">;

/**
 * The pull-request records and proposing leases in the `pulls` table: esc(repository) / esc(branch), one
 * row per branch holding both (see {@link StoredSlot}), so a proposer records its pull request and
 * releases its lease in one ETag-guarded write. Throws as `createTableStateStore` does.
 */
export function createPullRequestSlots(client: TableClient, helpers: TableHelpers): PullRequestSlots {
  const { readValue, queryValues, guardedWrite } = helpers;
  const update = <R>(repository: string, branch: string, operation: string, compute: (current: PullRequestSlot) => { write: PullRequestSlot | null; result: R }): Promise<R> =>
    guardedWrite<StoredSlot, R>(client, escapeKey(repository), escapeKey(branch), operation, (stored) => {
      const { write, result } = compute(slotOf(stored));
      return { write: write === null ? null : storedOf(write), result };
    });

  return {
    async getPullRequest(repository, branch) {
      return slotOf(await readValue<StoredSlot>(client, escapeKey(repository), escapeKey(branch), "get pull request")).record;
    },

    savePullRequest(repository, branch, patch) {
      return update(repository, branch, "save pull request", (current) => {
        const record = patch(current.record);
        return { write: { record, lease: current.lease }, result: record };
      });
    },

    updatePullRequestSlot(repository, branch, patch) {
      return update(repository, branch, "update pull request slot", (current) => {
        const next = patch(current);
        return { write: next, result: next ?? current };
      });
    },

    async listPullRequests() {
      const rows = await queryValues<StoredSlot>(client, undefined, "list pull requests");
      return rows
        .flatMap((row) => {
          const { record } = slotOf(row.value);
          return record === null ? [] : [record];
        })
        .sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0));
    },
  };
}

function slotOf(stored: StoredSlot | null): PullRequestSlot {
  if (stored === null) return { record: null, lease: null };
  const { proposing, ...fields } = stored;
  // A row without a pull request number holds only a lease.
  return { record: fields.number === undefined ? null : (fields as PullRequestRecord), lease: proposing ?? null };
}

function storedOf(slot: PullRequestSlot): StoredSlot {
  return { ...(slot.record ?? {}), proposing: slot.lease };
}
