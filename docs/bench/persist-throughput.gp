# Draws persist-throughput.svg from persist-throughput.dat: gnuplot persist-throughput.gp
set terminal svg size 720,440 dynamic enhanced font 'sans,12'
set output "persist-throughput.svg"
set title "cairn-bench persist: events/s, full sync, 200-byte events" noenhanced
set xlabel "entities (one command in flight each)" noenhanced
set ylabel "events/s" noenhanced
set key outside bottom center horizontal noenhanced
set grid
set yrange [0:*]
set logscale x 10
plot "persist-throughput.dat" index 0 using 1:2 with linespoints lw 2 pt 7 title "Cairn, durable persist", \
     "persist-throughput.dat" index 1 using 1:2 with linespoints lw 2 pt 7 title "raw actors + raw LMDB, same closed loop", \
     "persist-throughput.dat" index 2 using 1:2 with linespoints lw 2 pt 7 title "raw LMDB, same events per commit"
