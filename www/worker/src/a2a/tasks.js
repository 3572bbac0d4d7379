// A tenant's A2A tasks, kept in its own Durable Object: each task one record under
// `a2a/task/<id>`, and an index `a2a/index` of their ids, oldest first. At most `max` tasks
// are kept (A2A_MAX_TASKS, default 100): storing one more evicts the oldest that is not
// running, after which its id is TaskNotFound like one that never was. Records go through
// the package's durableObjectStorage adapter, which splits values too large for one
// entry, under keys that the agent's own records (`tenantry/v1/...`) never share.
import { durableObjectStorage } from "tenantry";
import { positiveVar } from "../http.js";

const INDEX_KEY = "a2a/index";
const TASK_PREFIX = "a2a/task/";

export const DEFAULT_MAX_TASKS = 100;

export function maxTasks(env) {
  return Math.floor(positiveVar(env, "A2A_MAX_TASKS", DEFAULT_MAX_TASKS));
}

export class TaskStore {
  constructor(storage, max) {
    this.records = durableObjectStorage(storage);
    this.max = max;
    this.index = undefined; // task ids, oldest first, once read
    this.loading = undefined;
  }

  // Read once per object; every change after that is made to the copy in memory with no
  // await between reading and writing it, so concurrent requests never lose each other's ids.
  async load() {
    this.loading ??= this.records.get(INDEX_KEY).then((text) => {
      const ids = text === null ? [] : JSON.parse(text);
      this.index ??= Array.isArray(ids) ? ids.filter((id) => typeof id === "string") : [];
    });
    await this.loading;
  }

  /** The task with this id, or null: only the index's ids are tasks. */
  async get(id) {
    await this.load();
    if (!this.index.includes(id)) return null;
    const text = await this.records.get(TASK_PREFIX + id);
    return text === null ? null : JSON.parse(text);
  }

  /**
   * Writes the task; a new one joins the index, evicting the oldest tasks beyond `max`
   * that `isRunning` says are not running (a running task is never dropped from under its run).
   */
  async put(task, isRunning = () => false) {
    await this.load();
    const gone = [];
    if (!this.index.includes(task.id)) {
      this.index.push(task.id);
      for (let i = 0; this.index.length > this.max && i < this.index.length; ) {
        const id = this.index[i];
        if (id === task.id || isRunning(id)) i++;
        else gone.push(...this.index.splice(i, 1));
      }
    }
    const index = JSON.stringify(this.index);
    await Promise.all([
      this.records.put(TASK_PREFIX + task.id, JSON.stringify(task)),
      this.records.put(INDEX_KEY, index),
      ...gone.map((id) => this.records.delete(TASK_PREFIX + id)),
    ]);
  }

  /** Every task gone (the tenant's erasure). */
  async clear() {
    await this.load();
    const ids = this.index.splice(0);
    await Promise.all([...ids.map((id) => this.records.delete(TASK_PREFIX + id)), this.records.delete(INDEX_KEY)]);
  }
}
