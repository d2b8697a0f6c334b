# lib-bars.gp: the layout of the bar charts with one group of bars per run
# (hit-rates.gp, refill-sources.gp, fragmentation-jw.gp). The figure
# script has loaded lib-common.gp; the data has one row per run, in
# run order, with the run's id in "run_id", its label in the column
# "label" and the label's length in "label_len". Plots label their groups
# with xtic(bar_tic(0)).

stats data using "label_len" nooutput
nruns = STATS_records
max_len = STATS_max
# Tick labels under their group (a character is about 0.55 em wide): whole
# when they fit; else broken into lines at their spaces, in a smaller font
# if a word still does not fit; else slanted whole (a slanted label takes
# height a one-column figure may not have: the last resort).
fits(chars, pt) = chars * 0.55 * pt / 72.0 <= 0.9 * (width - 0.6) / nruns
# (the recursion takes what it needs of bl_p before it recurses)
bl_max(a, b) = a > b ? a : b
longest_word(s) = (bl_p = strstrt(s, " "), bl_p == 0 ? strlen(s) : bl_max(bl_p - 1, longest_word(s[bl_p + 1:])))
lines(s) = (bl_p = strstrt(s, " "), bl_p == 0 ? s : s[1:bl_p - 1] . "\n" . lines(s[bl_p + 1:]))
stats data using (longest_word(stringcolumn("label"))) nooutput
max_word = STATS_max
stats data using (words(stringcolumn("label"))) nooutput	# gnuplot's words()
max_lines = STATS_max
tic_pt = fits(max_len, fsize) || fits(max_word, fsize) ? fsize : fsize - 2
wrap = !fits(max_len, fsize) && fits(max_word, tic_pt)
slant = !fits(max_len, fsize) && !wrap
# Too many runs for their labels even slanted (a slanted label's foot is
# about a line and a half of text wide): the groups are labelled by run
# id, named under the axis (v_runs has the labels), upright if the ids fit.
crowded = slant && 1.5 * tic_pt / 72.0 > 0.9 * (width - 0.6) / nruns
if (crowded) { slant = 0; tic_pt = fsize - 2 }
stats data using "run_id" nooutput
id_len = strlen(sprintf("%d", STATS_max))
ids_upright = fits(id_len, tic_pt)
bar_label(s) = wrap ? lines(s) : s
bar_tic(dummy) = crowded ? sprintf("%d", int(column("run_id"))) : bar_label(stringcolumn("label"))
set style data histograms
set style fill solid 1.0 border lc rgb 'black'
set boxwidth 0.85 relative
set grid noxtics ytics
set xtics nomirror scale 0
if (slant) { set xtics rotate by 30 right } else { set xtics norotate }
if (crowded && !ids_upright) { set xtics rotate by 90 right }
if (crowded) { set xlabel 'run id (labels: v_runs)' noenhanced }
tic_font = sprintf(",%d", tic_pt)
set xtics font tic_font
if (wrap) { set bmargin max_lines * tic_pt / fsize + 1.5 }
set xrange [-0.6:nruns - 0.4]
set key outside top center horizontal samplen 1.5
set rmargin 2
