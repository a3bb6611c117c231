export { MemoryJournal } from '../../src/core/journal.js';
