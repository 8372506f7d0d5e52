#!/usr/bin/env node
// The command npm links at install time. It is committed (npm links only files that exist when
// it installs, and dist/ is built afterwards, by prepare) and runs the built program.
require('../dist/bin.js');
