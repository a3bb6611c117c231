import { installLazyLibraries } from '../src/adapters/lazy-libraries.js';

installLazyLibraries();
