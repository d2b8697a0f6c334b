# lib-bars.gp: the layout of the bar charts with one group of bars per run
# (hit-rates.gp, refill-sources.gp, fragmentation-jw.gp). The figure
# script has loaded lib-common.gp; the data has one row per run, in
# run order, with the run's label in the column "label" and its length in
# "label_len".

stats data using "label_len" nooutput
nruns = STATS_records
# Slant the tick labels when the longest would not fit under its group
# (a character is about 0.55 em wide).
slant = (STATS_max * 0.55 * fsize / 72.0 > 0.9 * (width - 0.6) / nruns)
set style data histograms
set style fill solid 1.0 border lc rgb 'black'
set boxwidth 0.85 relative
set grid noxtics ytics
set xtics nomirror scale 0
if (slant) { set xtics rotate by 30 right } else { set xtics norotate }
set xrange [-0.6:nruns - 0.4]
set key outside top center horizontal samplen 1.5
set rmargin 2
