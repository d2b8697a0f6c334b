# lib-common.gp: the terminal, fonts and styles every figure shares. Each
# figure script loads it first (scripts/figures.sh puts this directory on
# gnuplot's load path, GNUPLOT_LIB).
#
# Variables, given with gnuplot -e: out, fmt, width, height (lib-terminal.gp,
# which sets the terminal; the PNG is the PDF at 200 dpi).
#
# Styles read in black and white: lines differ by dash type and point type
# as well as colour (Okabe & Ito's colour-blind-safe palette); bars use
# fills that differ in grey level.

load 'lib-terminal.gp'

# Data: CSV files with a header line, written by sqlite3 -csv -header from
# the views of analysis/views.sql (scripts/figures.sh); columns by name.
set datafile separator comma
set datafile columnheaders
set datafile missing ''

MiB = 1048576.0
KiB = 1024.0

set border 3 back lw 0.8
set tics nomirror out scale 0.5
set grid back lc rgb '#dddddd' lw 0.6 dt 1
set key noautotitle
set key samplen 2.5 spacing 1.0
set mxtics default
set style fill solid 1.0 border lc rgb 'black'

# Line types 1-6, in the order figures use them.
set linetype 1 lc rgb '#000000' lw 1.6 dt 1 pt 7 ps 0.55
set linetype 2 lc rgb '#0072B2' lw 1.6 dt 2 pt 5 ps 0.5
set linetype 3 lc rgb '#D55E00' lw 1.6 dt 4 pt 9 ps 0.6
set linetype 4 lc rgb '#009E73' lw 1.6 dt 3 pt 13 ps 0.6
set linetype 5 lc rgb '#CC79A7' lw 1.6 dt 5 pt 6 ps 0.55
set linetype 6 lc rgb '#E69F00' lw 1.6 dt (8, 3, 2, 3, 2, 3) pt 4 ps 0.5

# Bar fills 1-4, dark to light: distinct in grey as well as in colour.
bar1 = '#08306B'
bar2 = '#4A8BC4'
bar3 = '#A6CEE8'
bar4 = '#F2F7FB'

# The unit of the allocation clock (Wilson's: requested bytes allocated so
# far) on an x axis: MiB, or KiB for a trace that allocates less than
# 0.1 MiB in all, whose MiB ticks would be unreadable. Call with the
# largest clock value in bytes; sets clock_div and clock_label.
clock_div = MiB
clock_label = 'allocated (MiB)'
set_clock(max) = (max < 0.1 * MiB ? (clock_div = KiB, clock_label = 'allocated (KiB)') \
                                  : (clock_div = MiB, clock_label = 'allocated (MiB)'), 0)

# A tick step giving about n ticks from 0 to max: 1, 2 or 5 times a power
# of ten (for short panels, where gnuplot's own choice crowds the axis).
nice_step(max, n) = (max <= 0 ? 1 : \
	(max / n <= 1 * 10**floor(log10(max / n)) ? 1 : \
	 max / n <= 2 * 10**floor(log10(max / n)) ? 2 : \
	 max / n <= 5 * 10**floor(log10(max / n)) ? 5 : 10) * 10**floor(log10(max / n)))

# Markers at even steps of x along a line (rows are not evenly spaced in
# every time axis). For a line of line type i over x in [xmin, xmax]:
#   set_marks(xmin, xmax)
#   plot data using (X):(Y) with lines lt i, \
#        ''   using (mark(X, i)):(Y) with points lt i, \
#        keyentry with linespoints lt i title '...'
# mark() returns x at about 8 points per line, staggered by line type so
# that markers of lines lying on one another stay apart, and NaN elsewhere.
mark_at = 0
mark_step = 1
mark_min = 0
set_marks(xmin, xmax) = (mark_min = xmin, mark_step = (xmax > xmin ? (xmax - xmin) / 8.0 : 1), 0)
mark(x, i) = ((column(0) == 0 ? (mark_at = mark_min + mark_step * (0.1 + 0.13 * i)) : 0), \
              (x >= mark_at ? (mark_at = mark_at + mark_step * (1 + floor((x - mark_at) / mark_step)), x) : NaN))
