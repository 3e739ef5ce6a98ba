/*
 * dataset: the built-in datasets (see dataset.h).
 *
 * Stateless; safe from any thread.
 */
#include "dataset.h"

#include <string.h>

static const char *const analytics_daily_columns[] = {
	"website_id",	   "date",	  "total_visitors",	  "unique_visitors",
	"pageviews",	   "bounce_rate", "avg_session_duration",
};

static const struct dataset datasets[] = {
	{
		.name = "analytics_daily",
		.sql = "SELECT a.website_id, a.date, a.total_visitors, a.unique_visitors,"
		       " a.pageviews, a.bounce_rate, a.avg_session_duration"
		       " FROM websites w CROSS JOIN analytics_daily a"
		       " ON a.website_id = w.website_id AND a.date = :date"
		       " WHERE w.team_id = :team_id"
		       " ORDER BY a.website_id",
		/* "+" keeps team_id off any index, so the order comes from website_id's. */
		.sql_ordered = "SELECT a.website_id, a.date, a.total_visitors,"
			       " a.unique_visitors, a.pageviews, a.bounce_rate,"
			       " a.avg_session_duration"
			       " FROM websites w CROSS JOIN analytics_daily a"
			       " ON a.website_id = w.website_id AND a.date = :date"
			       " WHERE +w.team_id = :team_id"
			       " ORDER BY w.website_id",
		.columns = analytics_daily_columns,
		.ncolumns = 7,
	},
};

#define NDATASETS ((int)(sizeof(datasets) / sizeof(datasets[0])))

const struct dataset *dataset_find(const char *name)
{
	for (int i = 0; i < NDATASETS; i++)
		if (strcmp(datasets[i].name, name) == 0)
			return &datasets[i];
	return NULL;
}

const struct dataset *dataset_at(int i)
{
	return i >= 0 && i < NDATASETS ? &datasets[i] : NULL;
}

int dataset_generate(const struct dataset *ds, struct source *src,
		     const struct format_ops *fmt, const char *team, const char *date,
		     int fd, char sha256_hex[65], uint64_t *size, uint64_t *rows)
{
	struct sink sink;
	int ret = sink_init(&sink, fd);

	if (ret < 0)
		return ret;
	/* A team with a quarter or more of all websites: walk them in order. */
	const char *sql = ds->sql;
	if (ds->sql_ordered && source_team_share(src, team) >= 0.25)
		sql = ds->sql_ordered;
	ret = source_export(src, sql, team, date, fmt, ds->columns, ds->ncolumns, &sink,
			    rows);
	if (ret == 0)
		ret = sink_finish(&sink, sha256_hex, size);
	sink_release(&sink);
	return ret;
}
