# Draws actor-throughput.svg from actor-throughput.dat: gnuplot actor-throughput.gp
set terminal svg size 720,440 dynamic enhanced font 'sans,12'
set output "actor-throughput.svg"
set title "cairn-bench actor: request/response round trips/s, sync none" noenhanced
set xlabel "clients (one request in flight each)" noenhanced
set ylabel "round trips/s" noenhanced
set key outside bottom center horizontal noenhanced
set grid
set yrange [*:*]
set logscale x 10
set logscale y 10
plot "actor-throughput.dat" index 0 using 1:2 with linespoints lw 2 pt 7 title "raw CAF actor", \
     "actor-throughput.dat" index 1 using 1:2 with linespoints lw 2 pt 7 title "Cairn, entity, read only", \
     "actor-throughput.dat" index 2 using 1:2 with linespoints lw 2 pt 7 title "raw actors + raw LMDB, persisting", \
     "actor-throughput.dat" index 3 using 1:2 with linespoints lw 2 pt 7 title "Cairn, persisting entity"
