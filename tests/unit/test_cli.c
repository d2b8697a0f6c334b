/*
 * The CLI's small shared helpers (sim/cli.h): progress ETAs that stay
 * printable whatever the rate, and the line/column of a JSON error.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cli.h"

static const char *eta(double s)
{
	static char buf[32];
	cli_eta(buf, sizeof buf, s);
	return buf;
}

Test(cli, eta_prints_minutes_and_seconds)
{
	cr_assert_str_eq(eta(0), "  ETA 0:00");
	cr_assert_str_eq(eta(61.9), "  ETA 1:01");
	cr_assert_str_eq(eta(99999.0 * 60 + 59), "  ETA 99999:59");
	cr_assert_str_eq(eta(-3), "  ETA 0:00");
}

/* 1e10 events at 2 per second is 5e9 s: beyond an unsigned, which a cast
 * would not survive (undefined behaviour), and beyond any useful display. */
Test(cli, eta_beyond_the_display_is_clamped)
{
	cr_assert_str_eq(eta(99999.0 * 60 + 60), "  ETA >99999:59");
	cr_assert_str_eq(eta(5e9), "  ETA >99999:59");
	cr_assert_str_eq(eta(INFINITY), "  ETA >99999:59");
	cr_assert_str_eq(eta(NAN), "  ETA >99999:59");
}

Test(cli, line_col_counts_from_one)
{
	const char *t = "{\n  \"a\": 1,\n  x\n}";
	unsigned line, col;
	cli_line_col(t, 0, &line, &col);
	cr_assert(line == 1 && col == 1);
	cli_line_col(t, (size_t)(strchr(t, 'x') - t), &line, &col);
	cr_assert(line == 3 && col == 3, "line %u col %u", line, col);
}
