/** Count's Raft library: the public surface (raft/ imports nothing from src/). */
export { RaftInvariantViolation } from './assert.js';
export { bootstrapSnapshot, EMPTY_SNAPSHOT } from './bootstrap.js';
export { applyConfChange, decodeConfChange, encodeConfChange } from './conf-change.js';
export { isRaftError, RaftError } from './errors.js';
export { FileLogStore, type FileLogStoreOptions } from './file-log-store.js';
export { MemoryLogStore } from './memory-log-store.js';
export { isWellFormedMessage } from './message-shape.js';
export { RaftCore } from './raft.js';
export { RaftRuntime } from './runtime.js';
export * from './types.js';
