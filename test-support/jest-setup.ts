import { removeTempDirs } from './collector';

// Data dirs hold databases and keys: none is left in the temp dir once a test file is done.
afterAll(() => removeTempDirs());
