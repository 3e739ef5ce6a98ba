// Runs one SQL query in an in-memory DuckDB and prints its result as JSON:
//   {"columns": ["name", ...], "types": [...], "rows": [[value, ...], ...]}
// Values are DuckDB's JSON form of them: BIGINT and HUGEINT as strings (no
// precision lost), DOUBLE as numbers, VARCHAR as strings, NULL as null.
//
//   node tests/readers/duckdb_query.mjs [--modules DIR] 'SELECT ...'
//   node tests/readers/duckdb_query.mjs [--modules DIR] - < query.sql
//
// The modules come from DIR, else node_modules in the folder tests/deps.sh
// installs the readers into (outside the source tree): $WAREHOUSEFS_READERS,
// else as root /var/cache/warehousefs-tests, otherwise
// ${XDG_CACHE_HOME:-~/.cache}/warehousefs-tests.
// A failed query prints DuckDB's message on stderr and exits 1; a usage error
// or missing modules exit 2.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

function defaultModules() {
	if (process.env.WAREHOUSEFS_READERS)
		return join(process.env.WAREHOUSEFS_READERS, 'node_modules');
	if (process.getuid && process.getuid() === 0)
		return '/var/cache/warehousefs-tests/node_modules';
	const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
	return join(cache, 'warehousefs-tests', 'node_modules');
}

function usage(msg) {
	process.stderr.write(`duckdb_query: ${msg}\n` +
		'usage: duckdb_query.mjs [--modules DIR] SQL|-\n');
	process.exit(2);
}

let args = process.argv.slice(2);
let modules = null;
if (args[0] === '--modules') {
	if (args.length < 2)
		usage('--modules needs a folder');
	modules = args[1];
	args = args.slice(2);
}
if (args.length !== 1)
	usage('one query expected');
modules = modules || defaultModules();
const sql = args[0] === '-' ? readFileSync(0, 'utf8') : args[0];

if (!existsSync(join(modules, '@duckdb', 'node-api')))
	usage(`no @duckdb/node-api in '${modules}' (run tests/deps.sh)`);
// Node resolves bare names from the requiring file's folder: a require()
// anchored in the modules folder finds them wherever this script lives.
const require = createRequire(join(modules, 'package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');

try {
	const instance = await DuckDBInstance.create(':memory:');
	const conn = await instance.connect();
	const reader = await conn.runAndReadAll(sql);
	process.stdout.write(JSON.stringify({
		columns: reader.columnNames(),
		types: reader.columnTypes().map((t) => t.toString()),
		rows: reader.getRowsJson(),
	}) + '\n');
	conn.closeSync();
	instance.closeSync();
} catch (e) {
	process.stderr.write(`${e && e.message ? e.message : e}\n`);
	process.exit(1);
}
