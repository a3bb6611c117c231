export { MemoryJournal } from '../../src/core/bulk/journal.js';
