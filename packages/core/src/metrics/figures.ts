/** One figure a task's result reports, turned into a Prometheus counter or gauge. */
export interface TaskFigure {
  /** Metric name after the prefix, such as `cleanup_rows_deleted_total`. */
  name: string;
  /** The metric's help text, one line. */
  help: string;
  /** `counter` adds `value` per run; `gauge` sets it. */
  kind: "counter" | "gauge";
  /** The figure's value for this run. */
  value: number;
  /** Extra labels beside `task`; every figure of one name must use the same label names. */
  labels?: Record<string, string>;
}

/** Reads a run's result (its stored JSON) into figures. */
export type FigureReader = (result: unknown) => TaskFigure[];

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj => typeof value === "object" && value !== null && !Array.isArray(value);
const num = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) ? value : 0);
const list = (value: unknown): Obj[] => (Array.isArray(value) ? value.filter(isObj) : []);

const cleanup: FigureReader = (result) =>
  isObj(result)
    ? list(result.policies).flatMap((policy) => {
        const labels = { policy: String(policy.name ?? ""), table: String(policy.table ?? "") };
        return [
          {
            name: "cleanup_rows_deleted_total",
            help: "Rows the cleanup task deleted, per policy",
            kind: "counter",
            value: num(policy.deleted),
            labels,
          },
          {
            name: "cleanup_rows_archived_total",
            help: "Rows the cleanup task archived, per policy",
            kind: "counter",
            value: num(policy.archived),
            labels,
          },
        ] satisfies TaskFigure[];
      })
    : [];

const heartbeats: FigureReader = (result) =>
  isObj(result)
    ? [
        {
          name: "heartbeats_tokens_suspended_total",
          help: "Agent tokens suspended for a missing heartbeat",
          kind: "counter",
          value: num(result.suspended),
        },
        {
          name: "heartbeats_tokens_expired_total",
          help: "Overdue agent tokens marked expired",
          kind: "counter",
          value: num(result.expired),
        },
      ]
    : [];

const iocIngest: FigureReader = (result) => {
  if (!isObj(result)) return [];
  const feeds = list(result.feeds)
    .filter((feed) => feed.status === "updated")
    .map(
      (feed): TaskFigure => ({
        name: "ioc_indicators_listed",
        help: "Indicators a feed listed at its last successful fetch",
        kind: "gauge",
        value: num(feed.listed),
        labels: { feed: String(feed.name ?? "") },
      }),
    );
  const expired = isObj(result.expired) ? num(result.expired.listings) : 0;
  return [...feeds, { name: "ioc_listings_expired_total", help: "Indicator listings expired", kind: "counter", value: expired }];
};

const keyRotation: FigureReader = (result) =>
  isObj(result)
    ? [
        {
          name: "key_rotations_total",
          help: "Data-encryption keys made by rotation",
          kind: "counter",
          value: result.rotated === true ? 1 : 0,
        },
        ...list(result.columns).map(
          (column): TaskFigure => ({
            name: "key_rows_reencrypted_total",
            help: "Rows re-encrypted under the active key, per column",
            kind: "counter",
            value: num(column.reencrypted),
            labels: { table: String(column.table ?? ""), column: String(column.column ?? "") },
          }),
        ),
      ]
    : [];

/** The figure readers of the built-in tasks, by their default ids. */
export const BUILT_IN_FIGURES: Readonly<Record<string, FigureReader>> = {
  cleanup,
  heartbeats,
  "ioc-ingest": iocIngest,
  "key-rotation": keyRotation,
};
