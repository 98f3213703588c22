# Draws persist-latency.svg from persist-latency.dat: gnuplot persist-latency.gp
set terminal svg size 720,440 dynamic enhanced font 'sans,12'
set output "persist-latency.svg"
set title "cairn-bench persist: latency per command, full sync" noenhanced
set xlabel "entities (one command in flight each)" noenhanced
set ylabel "ms" noenhanced
set key outside bottom center horizontal noenhanced
set grid
set yrange [*:*]
set logscale x 10
set logscale y 10
plot "persist-latency.dat" index 0 using 1:2 with linespoints lw 2 pt 7 title "Cairn, p50", \
     "persist-latency.dat" index 1 using 1:2 with linespoints lw 2 pt 7 title "Cairn, p99"
