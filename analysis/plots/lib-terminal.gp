# lib-terminal.gp: the terminal every figure draws on, loaded by
# lib-common.gp (the per-run figures) and sweep_common.gp (the sweeps').
#
# Variables, given with gnuplot -e or set before loading:
#   out     the output file;
#   fmt     'pdf' (pdfcairo, vector, for the paper) or 'png' (pngcairo,
#           200 dpi, for the report and review);
#   width   the figure's width in inches: 3.3 (one column of a two-column
#           paper) or 7 (both columns);
#   height  optional, in inches; a figure may pick its own default before
#           loading (fig_height), else 2.4 / 2.8;
#   mono    optional, 1: monochrome (the sweep figures);
#   fsize   optional, the font size in points: else 8 on one column, 9 on two.
# Sets dpi.

if (!exists("fmt")) fmt = 'pdf'
if (!exists("width")) width = 3.3
if (!exists("out")) out = 'figure.' . fmt
if (!exists("mono")) mono = 0
single = (width < 5)
if (!exists("height")) height = exists("fig_height") ? fig_height : (single ? 2.4 : 2.8)
if (!exists("fsize")) fsize = single ? 8 : 9
dpi = 200.0
term_colour = mono ? 'monochrome' : 'color'

# Cairo sizes fonts for 96 dpi (a nominal point is 4/3 of a real one) and
# pdfcairo halves them by default; the scales below give fonts of exactly
# fsize points and lines of 0.5 pt per unit of lw in both formats (measured
# from the PDF's text matrix and stroke widths), so the PNG is the PDF at
# 200 dpi.
if (fmt eq 'pdf') {
	set terminal pdfcairo @term_colour size width, height font sprintf("DejaVu Sans,%d", fsize) \
	    fontscale 0.75 linewidth 1 rounded noenhanced
} else {
	set terminal pngcairo @term_colour size int(width * dpi), int(height * dpi) \
	    font sprintf("DejaVu Sans,%d", fsize) fontscale dpi / 96 linewidth dpi / 144 \
	    pointscale dpi / 72 rounded noenhanced background rgb 'white'
}
set output out
