%% bench/peers/erlang_peer.erl: the Erlang/OTP peer of `make bench` (see
%% bench/CONTRACT.md).
%%
%% Build and launch (what bench/peers/peers.mk does):
%%     erlc -Wall -o build/release/bench/erlang bench/peers/erlang_peer.erl
%% and a launcher script build/release/bench/erlang_peer that runs
%%     erl -noshell +S 2:2 +P ... -pa <its dir>/erlang \
%%         -s erlang_peer main -extra <workload> [--n N] ...
%% (`-extra` hands every later argument over untouched; main/0 reads them
%% with init:get_plain_arguments/0).
%%
%% Usage: erlang_peer <workload> [--n N] [--senders S] [--actors A]
%%                    [--hops H] [--tasks T] [--fib F] [--workers W]
%%                    [--variant V]
%% Prints CSV rows workload,erlang,variant,metric,value,unit on stdout;
%% diagnostics go to stderr (the logger is moved there too).
%%
%% Schedulers: one VM, started with +S W:W (W = --workers, default 2), and
%% each measurement first sets erlang:system_flag(schedulers_online, K);
%% the variant names K (`1sched`, `2scheds`; CONTRACT.md's `1worker` and
%% `2workers` for asks and fanout). With one scheduler online every
%% process runs on it; with two, the VM's own balancing and work stealing
%% decide where each process runs, except in asks and hol, whose contract
%% rows place the two actors on two schedulers: there each process is
%% bound with erlang:spawn_opt(Fun, [{scheduler, I}]), an option OTP 25
%% accepts but does not document (the erts test suites use it); a bound
%% process runs only on scheduler I and is never stolen. Each process
%% reports erlang:system_info(scheduler_id) and the run fails if the
%% placement is not the one asked for.
%%
%% pingpong  1sched, 2scheds; the ping checks the counter of every pong.
%% counting  1sched-Ssender(s), 2scheds-Ssender(s) for S = --senders (both
%%           1 and 2 if not given); each message is {count, I}, the
%%           receiver sums the I and checks the sum against the senders'.
%% ring      1sched, 2scheds; main's first send counts as one of the hops.
%% spawn     1sched, 2scheds actors_per_s: main spawns children (at most
%%           SPAWN_WINDOW unaccounted), each sends one message and ends.
%%           Then bytes_per_actor (under the last variant run): n idle
%%           processes, each blocked in receive after saying hello; OS RSS
%%           from /proc/self/statm (pages of 4096 B) after minus before,
%%           over n, as troupe and CAF report it. erlang:memory(processes)
%%           growth per process goes to stderr for comparison.
%% forkjoin  1sched and 2scheds seconds (median of 3 alternating runs),
%%           speedup = 1sched / 2scheds, reported under `2scheds`.
%% big       1sched, 2scheds; Savina Big, pings + pongs counted and checked.
%% asks      1sched, 2scheds: a plain asker process sends n
%%           gen_server:send_request/4 to a gen_server (this module's
%%           callbacks) into one request-id collection, label I, then
%%           matches every answer with gen_server:receive_response/3
%%           (Delete = true) until no_request; each answer must be 2 * I,
%%           the labels must sum to n(n+1)/2. Request ids carry no timeout
%%           of their own: the receive takes one, here one absolute
%%           deadline 30 s after the first send ({abs, T}), the closest to
%%           troupe's 30 s per tp_ask. Asker bound to scheduler 1, the
%%           gen_server (start option {spawn_opt, [{scheduler, K}]}) to K.
%%           bytes_per_ask: OS RSS (/proc/self/statm) read by the asker
%%           before its first send and right after its last, over n.
%% hol       2scheds: A bound to scheduler 1, B to scheduler 2; A stamps
%%           the time, sends {hol, I, T0} to B, then spins 100 ms reading
%%           erlang:monotonic_time (no sleep) before it answers main; B
%%           takes the time on receipt. n rounds, one at a time.
%% fanout    1sched, 2scheds seconds (median of 3 alternating runs, as in
%%           forkjoin), speedup under `2scheds`: a coordinator process
%%           spawns `tasks` workers with plain spawn/1 and sends each
%%           {job, ...}; timed in the coordinator from before the first
%%           spawn until the last result. A job is n ms of the worker's
%%           own running time, measured by reading the clock in a loop:
%%           see burn/1 for why a plain wall-clock deadline would not do.
%% mapbody   1sched: maps #{a => I, b => 2I, s => <<16 bytes>>, d => I/3};
%%           the receiver matches all four keys, checks a (and b, the size
%%           of s, that d is a float).
%% flood     1sched: the producer sends {count, I} n times then `done`;
%%           the receiver waits in a selective receive for `done`, so it
%%           takes none of the n before the producer has sent them all,
%%           then counts them from the front of its queue and checks the
%%           sum. bytes_per_msg: peak OS RSS (VmHWM of /proc/self/status,
%%           reset just before the run by writing 5 to
%%           /proc/self/clear_refs) minus OS RSS before (statm), over n;
%%           the same OS figure as spawn's bytes_per_actor, not
%%           erlang:memory/1 (its growth goes to stderr).
%% call      1sched, 2scheds: main (a plain process) makes n
%%           gen_server:call/2 to a gen_server, one at a time, each timed;
%%           percentiles by nearest rank.
%% sends     1sched: Savina fjthrput from outside the receivers. A plain
%%           process, spawned first (before the receivers, so it is none
%%           of them), sends {count, I} for I = 1..n round-robin over
%%           `actors` receiver processes (I to receiver (I-1) rem A + 1),
%%           all on the one scheduler online; it stamps the time just
%%           before its first send. Each receiver knows its share, checks
%%           that its I come in order (J, J+A, J+2A, ...), and reports its
%%           count and the time once it has its whole share; the run ends
%%           at the latest of those times, and the counts must add up to
%%           n with no I out of place.
%%
%% Timing: erlang:monotonic_time/1; process creation and wiring are outside
%% the timed region, except in spawn and fanout, where the spawns are part
%% of what is measured. Exit 0 on success, 1 on a failed check or a
%% timeout, 2 on bad arguments.
-module(erlang_peer).
-behaviour(gen_server).
-export([main/0]).
% the responder of asks and call
-export([init/1, handle_call/3, handle_cast/2]).

-define(TIMEOUT, 120000).     % ms to wait for any one run
-define(SPAWN_WINDOW, 1000).  % children the spawner may have unaccounted
-define(PAGE, 4096).
-define(ASK_TIMEOUT, 30000).  % ms: asks' deadline, after the first send
-define(HOL_BUSY_MS, 100).    % ms A stays busy after its send
% fanout's burn/1: a step between two clock reads longer than this (ns)
% is time the worker was not running
-define(CPU_GAP_NS, 10000).

% tasks: undefined = the workload's own default (forkjoin 8, fanout 16)
-record(p, {n = 0, senders = 0, actors = 0, hops = 1000000,
            tasks = undefined, fib = 32, workers = 2, variant = none}).

%% ---- entry, arguments, output ---------------------------------------------

main() ->
    stderr_logger(),
    Rc = try
             run(init:get_plain_arguments())
         catch
             throw:{fail, Msg} ->
                 err("~s", [Msg]),
                 1;
             Class:Reason:Stack ->
                 err("~p:~p~n~p", [Class, Reason, Stack]),
                 1
         end,
    halt(Rc).

%% Crash reports and the like must not reach stdout.
stderr_logger() ->
    _ = logger:remove_handler(default),
    _ = logger:add_handler(default, logger_std_h,
                           #{config => #{type => standard_error}}),
    ok.

usage() ->
    err("usage: erlang_peer pingpong|counting|ring|spawn|forkjoin|big|"
        "asks|hol|fanout|mapbody|flood|call|sends "
        "[--n N] [--senders S] [--actors A] [--hops H] [--tasks T] "
        "[--fib F] [--workers W] [--variant V]", []).

run([W | Opts]) ->
    case parse(Opts, #p{}) of
        {error, Msg} ->
            err("~s", [Msg]),
            usage(),
            2;
        {ok, P} ->
            case workload(W) of
                undefined ->
                    err("unknown workload ~s", [W]),
                    usage(),
                    2;
                F ->
                    put(variant, P#p.variant),
                    put(matched, false),
                    Rc = F(P),
                    case Rc =:= 0 andalso not get(matched) of
                        true ->
                            err("no ~s variant named ~s", [W, P#p.variant]),
                            2;
                        false ->
                            Rc
                    end
            end
    end;
run([]) ->
    usage(),
    2.

workload("pingpong") -> fun pingpong/1;
workload("counting") -> fun counting/1;
workload("ring") -> fun ring/1;
workload("spawn") -> fun spawn_bench/1;
workload("forkjoin") -> fun forkjoin/1;
workload("big") -> fun big/1;
workload("asks") -> fun asks/1;
workload("hol") -> fun hol/1;
workload("fanout") -> fun fanout/1;
workload("mapbody") -> fun mapbody/1;
workload("flood") -> fun flood/1;
workload("call") -> fun call/1;
workload("sends") -> fun sends/1;
workload(_) -> undefined.

parse([], P) ->
    case P of
        #p{senders = S} when S < 0; S > 2 -> {error, "--senders must be 0..2"};
        #p{workers = W} when W < 1 -> {error, "--workers must be >= 1"};
        #p{n = N} when N < 0 -> {error, "--n must be >= 0"};
        #p{hops = H} when H < 1 -> {error, "--hops must be >= 1"};
        #p{tasks = T} when is_integer(T), T < 1 ->
            {error, "--tasks must be >= 1"};
        #p{actors = A} when A < 0 -> {error, "--actors must be >= 0"};
        #p{fib = F} when F < 0 -> {error, "--fib must be >= 0"};
        _ -> {ok, P}
    end;
parse(["--variant", V | Rest], P) ->
    parse(Rest, P#p{variant = V});
parse([K, V | Rest], P) ->
    case {field(K), string:to_integer(V)} of
        {undefined, _} ->
            {error, "unknown option " ++ K};
        {I, {Int, []}} ->
            parse(Rest, setelement(I, P, Int));
        _ ->
            {error, "not an integer: " ++ K ++ " " ++ V}
    end;
parse([K], _) ->
    {error, "option without a value: " ++ K}.

field("--n") -> #p.n;
field("--senders") -> #p.senders;
field("--actors") -> #p.actors;
field("--hops") -> #p.hops;
field("--tasks") -> #p.tasks;
field("--fib") -> #p.fib;
field("--workers") -> #p.workers;
field(_) -> undefined.

err(Fmt, Args) ->
    io:format(standard_error, "erlang_peer: " ++ Fmt ++ "~n", Args).

fail(Fmt, Args) ->
    throw({fail, io_lib:format(Fmt, Args)}).

%% Rates as integers, seconds and speedups with three decimals,
%% microseconds with one.
row(W, V, M, Val, Unit) ->
    D = case M of
            "seconds" -> 3;
            "speedup" -> 3;
            _ ->
                case lists:suffix("_us", M) of
                    true -> 1;
                    false -> 0
                end
        end,
    io:format("~s,erlang,~s,~s,~s,~s~n",
              [W, V, M, float_to_list(float(Val), [{decimals, D}]), Unit]).

now_ns() ->
    erlang:monotonic_time(nanosecond).

secs(T0, T1) ->
    (T1 - T0) / 1.0e9.

%% Does --variant (if any) select V? Remembers that something matched.
want(V) ->
    case get(variant) of
        none -> put(matched, true), true;
        V -> put(matched, true), true;
        _ -> false
    end.

sched_name(1) -> "1sched";
sched_name(K) -> integer_to_list(K) ++ "scheds".

%% Scheduler counts to measure: 1 and --workers.
sched_list(#p{workers = 1}) -> [1];
sched_list(#p{workers = W}) -> [1, W].

set_scheds(K) ->
    Max = erlang:system_info(schedulers),
    K =< Max orelse
        fail("~b schedulers wanted, the VM has ~b (launch with +S ~b)",
             [K, Max, K]),
    _ = erlang:system_flag(schedulers_online, K),
    K = erlang:system_info(schedulers_online),
    ok.

default(0, D) -> D;
default(undefined, D) -> D;
default(V, _) -> V.

%% Runs F(K) for every scheduler count; 0 if all returned 0.
each_sched(P, F) ->
    lists:foldl(fun(K, Rc) -> Rc bor F(K) end, 0, sched_list(P)).

await(Ref) ->
    receive
        {Ref, Result} -> Result
    after ?TIMEOUT ->
        fail("timed out", [])
    end.

kill_all(Pids) ->
    lists:foreach(fun(Pid) -> exit(Pid, kill) end, Pids).

%% ---- pingpong ---------------------------------------------------------------

pingpong(P) ->
    N = default(P#p.n, 200000),
    each_sched(P, fun(K) -> pingpong_one(K, N) end).

pingpong_one(K, N) ->
    V = sched_name(K),
    case want(V) of
        false ->
            0;
        true ->
            set_scheds(K),
            Main = self(),
            Ref = make_ref(),
            Pong = spawn(fun pong_loop/0),
            Ping = spawn(fun() ->
                                 receive go -> ok end,
                                 T0 = now_ns(),
                                 Bad = ping_loop(Pong, self(), 1, N, 0),
                                 T1 = now_ns(),
                                 Main ! {Ref, {T0, T1, Bad}}
                         end),
            Ping ! go,
            {T0, T1, Bad} = await(Ref),
            kill_all([Pong]),
            Bad =:= 0 orelse fail("pingpong ~s: ~b bad pongs", [V, Bad]),
            row("pingpong", V, "roundtrips_per_s", N / secs(T0, T1), "1/s"),
            0
    end.

pong_loop() ->
    receive
        {ping, From, I} ->
            From ! {pong, I},
            pong_loop()
    end.

ping_loop(_, _, I, N, Bad) when I > N ->
    Bad;
ping_loop(Pong, Self, I, N, Bad) ->
    Pong ! {ping, Self, I},
    receive
        {pong, I} -> ping_loop(Pong, Self, I + 1, N, Bad);
        {pong, _} -> ping_loop(Pong, Self, I + 1, N, Bad + 1)
    end.

%% ---- counting ---------------------------------------------------------------

counting(P) ->
    N = default(P#p.n, 2000000),
    Senders = case P#p.senders of
                  0 -> [1, 2];
                  S -> [S]
              end,
    lists:foldl(
      fun(S, Rc0) ->
              each_sched(P, fun(K) -> counting_one(K, S, N) end) bor Rc0
      end, 0, Senders).

counting_one(K, S, N) ->
    Base = sched_name(K),
    V = Base ++ "-" ++ integer_to_list(S)
        ++ case S of 1 -> "sender"; _ -> "senders" end,
    case want(V) orelse want(Base) of
        false ->
            0;
        true ->
            set_scheds(K),
            Main = self(),
            Ref = make_ref(),
            Shares = [N div S + case I of 1 -> N rem S; _ -> 0 end
                      || I <- lists:seq(1, S)],
            Expect = lists:sum([X * (X + 1) div 2 || X <- Shares]),
            Recv = spawn(fun() -> count_loop(Main, Ref, N, 0) end),
            Srcs = [spawn(fun() ->
                                  receive go -> ok end,
                                  send_loop(Recv, 1, X)
                          end)
                    || X <- Shares],
            T0 = now_ns(),
            lists:foreach(fun(Src) -> Src ! go end, Srcs),
            {T1, Sum} = await(Ref),
            Sum =:= Expect orelse
                fail("counting ~s: sum ~b, expected ~b", [V, Sum, Expect]),
            row("counting", V, "msgs_per_s", N / secs(T0, T1), "1/s"),
            0
    end.

send_loop(_, I, Max) when I > Max ->
    ok;
send_loop(Recv, I, Max) ->
    Recv ! {count, I},
    send_loop(Recv, I + 1, Max).

count_loop(Main, Ref, 0, Sum) ->
    Main ! {Ref, {now_ns(), Sum}};
count_loop(Main, Ref, Left, Sum) ->
    receive
        {count, I} -> count_loop(Main, Ref, Left - 1, Sum + I)
    end.

%% ---- ring -------------------------------------------------------------------

ring(P) ->
    A = default(P#p.actors, 1000),
    each_sched(P, fun(K) -> ring_one(K, A, P#p.hops) end).

ring_one(K, A, H) ->
    V = sched_name(K),
    case want(V) of
        false ->
            0;
        true ->
            set_scheds(K),
            Main = self(),
            Ref = make_ref(),
            Nodes = [spawn(fun() -> ring_init(Main, Ref) end)
                     || _ <- lists:seq(1, A)],
            Nexts = tl(Nodes) ++ [hd(Nodes)],
            lists:foreach(fun({Node, Next}) -> Node ! {next, Next} end,
                          lists:zip(Nodes, Nexts)),
            lists:foreach(fun(_) -> ok = await(Ref) end, Nodes),
            %% H messages in all: this first send counts as one hop
            T0 = now_ns(),
            hd(Nodes) ! {tok, H - 1},
            T1 = await(Ref),
            kill_all(Nodes),
            row("ring", V, "hops_per_s", H / secs(T0, T1), "1/s"),
            0
    end.

ring_init(Main, Ref) ->
    receive
        {next, Next} ->
            Main ! {Ref, ok},
            ring_loop(Next, Main, Ref)
    end.

ring_loop(Next, Main, Ref) ->
    receive
        {tok, 0} ->
            Main ! {Ref, now_ns()},
            ring_loop(Next, Main, Ref);
        {tok, Left} ->
            Next ! {tok, Left - 1},
            ring_loop(Next, Main, Ref)
    end.

%% ---- spawn ------------------------------------------------------------------

spawn_bench(P) ->
    N = default(P#p.n, 1000000),
    Ks = [K || K <- sched_list(P), want(sched_name(K))],
    lists:foreach(fun(K) -> spawn_timed(K, N) end, Ks),
    case Ks of
        [] -> 0;
        _ -> spawn_memory(lists:last(Ks), N)
    end.

spawn_timed(K, N) ->
    set_scheds(K),
    Self = self(),
    Child = fun() -> Self ! hi end,
    T0 = now_ns(),
    spawn_window(Child, N, 0),
    T1 = now_ns(),
    row("spawn", sched_name(K), "actors_per_s", N / secs(T0, T1), "1/s").

%% Spawns Left more children of Fun, keeping at most SPAWN_WINDOW of them
%% unaccounted (not yet said hi), then waits for the rest.
spawn_window(_, 0, 0) ->
    ok;
spawn_window(Fun, Left, Out) when Left =:= 0; Out >= ?SPAWN_WINDOW ->
    receive
        hi -> spawn_window(Fun, Left, Out - 1)
    after ?TIMEOUT ->
        fail("spawn: ~b children never reported", [Out])
    end;
spawn_window(Fun, Left, Out) ->
    _ = spawn(Fun),
    spawn_window(Fun, Left - 1, Out + 1).

%% The idle processes' pids are not kept (that list would be counted too);
%% halt/1 ends them.
spawn_memory(K, N) ->
    set_scheds(K),
    Self = self(),
    Idle = fun() ->
                   Self ! hi,
                   receive stop -> ok end
           end,
    garbage_collect(),
    Rss0 = rss_bytes(),
    Procs0 = erlang:memory(processes),
    spawn_window(Idle, N, 0),
    garbage_collect(),
    % every idle process has run up to its receive
    Rss1 = rss_bytes(),
    Procs1 = erlang:memory(processes),
    err("spawn: ~b idle processes: RSS +~b B, erlang:memory(processes) "
        "+~b B (~.1f B each)",
        [N, Rss1 - Rss0, Procs1 - Procs0, (Procs1 - Procs0) / max(N, 1)]),
    row("spawn", sched_name(K), "bytes_per_actor", (Rss1 - Rss0) / max(N, 1),
        "B"),
    0.

rss_bytes() ->
    {ok, Statm} = file:read_file("/proc/self/statm"),
    [_Size, Resident | _] = binary:split(Statm, <<" ">>, [global]),
    binary_to_integer(Resident) * ?PAGE.

%% ---- forkjoin ---------------------------------------------------------------

forkjoin(#p{tasks = T0, fib = F, workers = W}) ->
    T = default(T0, 8),
    V1 = sched_name(1),
    V2 = sched_name(W),
    One = want(V1),
    Two = W > 1 andalso want(V2),
    case One orelse Two of
        false ->
            0;
        true ->
            % the expected sum, computed up front
            Expect = fib(F) * T,
            Runs = [{forkjoin_run(1, T, F, Expect, One),
                     forkjoin_run(W, T, F, Expect, Two)}
                    || _ <- lists:seq(1, 3)],
            {R1, R2} = lists:unzip(Runs),
            S1 = median(R1),
            S2 = median(R2),
            One andalso row("forkjoin", V1, "seconds", S1, "s"),
            Two andalso row("forkjoin", V2, "seconds", S2, "s"),
            One andalso Two andalso
                row("forkjoin", V2, "speedup", S1 / S2, "x"),
            0
    end.

median(L) ->
    lists:nth((length(L) + 1) div 2, lists:sort(L)).

%% One run of T fib(F) jobs, each in its own process, on K schedulers;
%% seconds from the first job sent to the last result received.
forkjoin_run(_, _, _, _, false) ->
    0.0;
forkjoin_run(K, T, F, Expect, true) ->
    set_scheds(K),
    Main = self(),
    Ref = make_ref(),
    Tasks = [spawn(fun() ->
                           receive
                               {job, X} -> Main ! {Ref, fib(X)}
                           end
                   end)
             || _ <- lists:seq(1, T)],
    T0 = now_ns(),
    lists:foreach(fun(Task) -> Task ! {job, F} end, Tasks),
    Sum = lists:foldl(fun(_, Acc) -> Acc + await(Ref) end, 0, Tasks),
    T1 = now_ns(),
    Sum =:= Expect orelse
        fail("forkjoin on ~b schedulers: sum ~b, expected ~b",
             [K, Sum, Expect]),
    secs(T0, T1).

fib(N) when N < 2 -> N;
fib(N) -> fib(N - 1) + fib(N - 2).

%% ---- big --------------------------------------------------------------------

big(P) ->
    N = default(P#p.n, 10000),
    A = default(P#p.actors, 120),
    case A >= 2 of
        false ->
            err("big needs at least 2 actors", []),
            2;
        true ->
            each_sched(P, fun(K) -> big_one(K, A, N) end)
    end.

%% Per-actor constants.
-record(big, {idx, self, peers, actors, main, ref}).

big_one(K, A, N) ->
    V = sched_name(K),
    case want(V) of
        false ->
            0;
        true ->
            set_scheds(K),
            Main = self(),
            Ref = make_ref(),
            Pids = [spawn(fun() -> big_init(I, A, N, Main, Ref) end)
                    || I <- lists:seq(1, A)],
            Peers = list_to_tuple(Pids),
            lists:foreach(fun(Pid) -> Pid ! {peers, Peers} end, Pids),
            lists:foreach(fun(_) -> ok = await(Ref) end, Pids),
            T0 = now_ns(),
            lists:foreach(fun(Pid) -> Pid ! go end, Pids),
            % each actor reads the clock when it has had its last pong
            T1 = lists:foldl(fun(_, Max) -> max(Max, await(Ref)) end, T0,
                             Pids),
            % every ping has been answered before its pong came back, so
            % the counters are final
            lists:foreach(fun(Pid) -> Pid ! stop end, Pids),
            {Pongs, Served} =
                lists:foldl(fun(_, {Po, Se}) ->
                                    {Po1, Se1} = await(Ref),
                                    {Po + Po1, Se + Se1}
                            end, {0, 0}, Pids),
            {Pongs, Served} =:= {A * N, A * N} orelse
                fail("big ~s: ~b pongs, ~b pings served, expected ~b each",
                     [V, Pongs, Served, A * N]),
            row("big", V, "msgs_per_s", 2 * A * N / secs(T0, T1), "1/s"),
            0
    end.

big_init(I, A, N, Main, Ref) ->
    receive
        {peers, Peers} ->
            Main ! {Ref, ok},
            S = #big{idx = I, self = self(), peers = Peers, actors = A,
                     main = Main, ref = Ref},
            big_loop(S, N, I * 7919 + 1, 0, 0)
    end.

%% Left: pings still to send; Seed: Park-Miller generator state (stays a
%% small integer); Served: pings answered; Pongs: pongs received.
big_loop(S, Left, Seed, Served, Pongs) ->
    receive
        {ping, From} ->
            From ! pong,
            big_loop(S, Left, Seed, Served + 1, Pongs);
        pong ->
            big_next(S, Left, Seed, Served, Pongs + 1);
        go ->
            big_next(S, Left, Seed, Served, Pongs);
        stop ->
            S#big.main ! {S#big.ref, {Pongs, Served}}
    end.

big_next(#big{main = Main, ref = Ref} = S, 0, Seed, Served, Pongs) ->
    Main ! {Ref, now_ns()},
    % stays alive: the others still ping it
    big_loop(S, -1, Seed, Served, Pongs);
big_next(#big{idx = I, actors = A, peers = Peers, self = Self} = S,
         Left, Seed, Served, Pongs) ->
    Seed1 = Seed * 48271 rem 2147483647,
    J = Seed1 rem (A - 1) + 1,
    To = case J >= I of
             true -> J + 1;
             false -> J
         end,
    element(To, Peers) ! {ping, Self},
    big_loop(S, Left - 1, Seed1, Served, Pongs).

%% ---- the gen_server of asks and call ------------------------------------------

init([]) ->
    {ok, 0}.

handle_call({ask, I}, _From, S) ->
    {reply, 2 * I, S};
handle_call(where, _From, S) ->
    {reply, erlang:system_info(scheduler_id), S}.

handle_cast(_, S) ->
    {noreply, S}.

%% A responder whose process is bound to scheduler K (false: not bound).
start_responder(false) ->
    {ok, Srv} = gen_server:start(?MODULE, [], []),
    Srv;
start_responder(K) ->
    {ok, Srv} = gen_server:start(?MODULE, [], [{spawn_opt, [{scheduler, K}]}]),
    Srv.

%% spawn/1 of a process bound to scheduler K.
spawn_on(K, Fun) ->
    erlang:spawn_opt(Fun, [{scheduler, K}]).

%% Fails unless a process that said it ran on scheduler Got should be on
%% Want.
placed(What, Want, Got) ->
    Want =:= Got orelse
        fail("~s ran on scheduler ~b, not on ~b", [What, Got, Want]).

%% Nearest-rank percentile of a tuple of sorted samples.
pct(Sorted, P) ->
    N = tuple_size(Sorted),
    element(max(1, min(N, ceil(P * N))), Sorted).

%% ---- asks -------------------------------------------------------------------

asks(P) ->
    N = default(P#p.n, 100000),
    each_sched(P, fun(K) -> asks_one(K, N) end).

asks_one(K, N) ->
    V = sched_name(K),
    case want(V) of
        false ->
            0;
        true ->
            set_scheds(K),
            Main = self(),
            Ref = make_ref(),
            Srv = start_responder(K),
            Asker = spawn_on(1, fun() -> asker(Srv, N, Main, Ref) end),
            Asker ! go,
            {T0, T1, Rss0, Rss1, Result, SchedA} = await(Ref),
            placed("asks: the responder", K, gen_server:call(Srv, where)),
            placed("asks: the asker", 1, SchedA),
            ok = gen_server:stop(Srv),
            Expect = N * (N + 1) div 2,
            case Result of
                {done, N, Expect} -> ok;
                {done, Got, Sum} ->
                    fail("asks ~s: ~b answers (labels sum ~b), expected ~b "
                         "(~b)", [V, Got, Sum, N, Expect]);
                Other ->
                    fail("asks ~s: ~p", [V, Other])
            end,
            S = secs(T0, T1),
            row("asks", V, "seconds", S, "s"),
            row("asks", V, "asks_per_s", N / S, "1/s"),
            row("asks", V, "bytes_per_ask", (Rss1 - Rss0) / max(N, 1), "B"),
            0
    end.

%% All n requests go out from this one receive clause before the first
%% answer is looked at.
asker(Srv, N, Main, Ref) ->
    receive
        go ->
            Rss0 = rss_bytes(),
            T0 = now_ns(),
            Deadline = erlang:monotonic_time(millisecond) + ?ASK_TIMEOUT,
            Reqs = ask_send(Srv, 1, N, gen_server:reqids_new()),
            Rss1 = rss_bytes(),
            Result = ask_collect(Reqs, Deadline, 0, 0),
            T1 = now_ns(),
            Main ! {Ref, {T0, T1, Rss0, Rss1, Result,
                          erlang:system_info(scheduler_id)}}
    end.

ask_send(_, I, N, Reqs) when I > N ->
    Reqs;
ask_send(Srv, I, N, Reqs) ->
    ask_send(Srv, I + 1, N, gen_server:send_request(Srv, {ask, I}, I, Reqs)).

%% Takes the answers in the order they come; each is matched to its
%% request (and label) by its request id, and removed from the collection.
ask_collect(Reqs, Deadline, Got, Sum) ->
    case gen_server:receive_response(Reqs, {abs, Deadline}, true) of
        {{reply, R}, I, Reqs1} when R =:= 2 * I ->
            ask_collect(Reqs1, Deadline, Got + 1, Sum + I);
        {{reply, R}, I, _} ->
            {wrong_answer, I, R};
        {{error, {Reason, _}}, I, _} ->
            {request_failed, I, Reason};
        timeout ->
            {timeout, Got, gen_server:reqids_size(Reqs)};
        no_request ->
            {done, Got, Sum}
    end.

%% ---- hol --------------------------------------------------------------------

hol(#p{workers = 1}) ->
    case want("1sched") of
        true ->
            row("hol", "1sched", "na", 0,
                "needs two schedulers (--workers 1)"),
            0;
        false ->
            0
    end;
hol(P) ->
    N = default(P#p.n, 20),
    V = sched_name(2),
    case want(V) of
        false ->
            0;
        true ->
            set_scheds(2),
            Main = self(),
            Ref = make_ref(),
            B = spawn_on(2, fun() -> hol_b(Main, Ref) end),
            A = spawn_on(1, fun() -> hol_a(B, Main, Ref) end),
            Delays = [hol_round(A, I, Ref) || I <- lists:seq(1, N)],
            kill_all([A, B]),
            length(Delays) =:= N orelse
                fail("hol: ~b rounds, expected ~b", [length(Delays), N]),
            Sorted = list_to_tuple(lists:sort(Delays)),
            row("hol", V, "hol_p50_us", pct(Sorted, 0.5) / 1000, "us"),
            row("hol", V, "hol_max_us", element(N, Sorted) / 1000, "us"),
            0
    end.

%% One round: both A's and B's report, in either order.
hol_round(A, I, Ref) ->
    A ! {go, I},
    D = receive
            {Ref, {b, I, Ns, SchedB}} ->
                placed("hol: B", 2, SchedB),
                Ns
        after ?TIMEOUT ->
            fail("hol: B never got message ~b", [I])
        end,
    receive
        {Ref, {a, I, SchedA}} -> placed("hol: A", 1, SchedA)
    after ?TIMEOUT ->
        fail("hol: A never finished round ~b", [I])
    end,
    D.

hol_a(B, Main, Ref) ->
    receive
        {go, I} ->
            B ! {hol, I, now_ns()},
            spin_until(now_ns() + ?HOL_BUSY_MS * 1000000),
            Main ! {Ref, {a, I, erlang:system_info(scheduler_id)}},
            hol_a(B, Main, Ref)
    end.

hol_b(Main, Ref) ->
    receive
        {hol, I, T0} ->
            T1 = now_ns(),
            Main ! {Ref, {b, I, T1 - T0, erlang:system_info(scheduler_id)}},
            hol_b(Main, Ref)
    end.

spin_until(Deadline) ->
    case now_ns() >= Deadline of
        true -> ok;
        false -> spin_until(Deadline)
    end.

%% ---- fanout -----------------------------------------------------------------

fanout(#p{tasks = T0, n = N0, workers = W}) ->
    T = default(T0, 16),
    Ms = default(N0, 20),
    V1 = sched_name(1),
    V2 = sched_name(W),
    One = want(V1),
    Two = W > 1 andalso want(V2),
    case One orelse Two of
        false ->
            0;
        true ->
            Runs = [{fanout_run(1, T, Ms, One), fanout_run(W, T, Ms, Two)}
                    || _ <- lists:seq(1, 3)],
            {R1, R2} = lists:unzip(Runs),
            S1 = median(R1),
            S2 = median(R2),
            One andalso row("fanout", V1, "seconds", S1, "s"),
            Two andalso row("fanout", V2, "seconds", S2, "s"),
            One andalso Two andalso
                row("fanout", V2, "speedup", S1 / S2, "x"),
            0
    end.

fanout_run(_, _, _, false) ->
    0.0;
fanout_run(K, T, Ms, true) ->
    set_scheds(K),
    Main = self(),
    Ref = make_ref(),
    _ = spawn(fun() -> fanout_coord(T, Ms, Main, Ref) end),
    {Ns, Got, Sum} = await(Ref),
    {Got, Sum} =:= {T, T * (T + 1) div 2} orelse
        fail("fanout on ~b schedulers: ~b results (sum ~b), expected ~b",
             [K, Got, Sum, T]),
    Ns / 1.0e9.

fanout_coord(T, Ms, Main, Ref) ->
    Self = self(),
    T0 = now_ns(),
    lists:foreach(fun(I) ->
                          Worker = spawn(fun fanout_worker/0),
                          Worker ! {job, Self, I, Ms * 1000000}
                  end, lists:seq(1, T)),
    {Got, Sum} = fanout_gather(T, 0, 0),
    T1 = now_ns(),
    Main ! {Ref, {T1 - T0, Got, Sum}}.

fanout_gather(0, Got, Sum) ->
    {Got, Sum};
fanout_gather(Left, Got, Sum) ->
    receive
        {result, I} -> fanout_gather(Left - 1, Got + 1, Sum + I)
    after ?TIMEOUT ->
        {Got, Sum}
    end.

fanout_worker() ->
    receive
        {job, From, I, Ns} ->
            burn(Ns),
            From ! {result, I}
    end.

%% Spends Ns nanoseconds of this process's own running time in a loop
%% that reads the clock. The BEAM preempts a process every few thousand
%% reductions, so with 16 workers on one scheduler a loop that spins
%% until a wall-clock deadline would let all 16 deadlines run out at
%% once, after ~Ms in all, doing 1/16 of the work asked for. So the
%% loop adds up only the short steps between reads; a step longer than
%% CPU_GAP_NS (a few thousand times a normal one) is time the process
%% spent descheduled, and is left out.
burn(Ns) ->
    burn(now_ns(), Ns).

burn(_, Left) when Left =< 0 ->
    ok;
burn(Last, Left) ->
    Now = now_ns(),
    case Now - Last of
        D when D =< ?CPU_GAP_NS -> burn(Now, Left - D);
        _ -> burn(Now, Left)
    end.

%% ---- mapbody ----------------------------------------------------------------

mapbody(P) ->
    N = default(P#p.n, 1000000),
    V = sched_name(1),
    case want(V) of
        false ->
            0;
        true ->
            set_scheds(1),
            Main = self(),
            Ref = make_ref(),
            Recv = spawn(fun() -> map_recv(Main, Ref, 1, N, 0) end),
            Src = spawn(fun() ->
                                receive go -> ok end,
                                map_send(Recv, 1, N)
                        end),
            T0 = now_ns(),
            Src ! go,
            {T1, Bad} = await(Ref),
            Bad =:= 0 orelse
                fail("mapbody: ~b of ~b maps decoded wrong", [Bad, N]),
            row("mapbody", V, "msgs_per_s", N / secs(T0, T1), "1/s"),
            0
    end.

map_send(_, I, N) when I > N ->
    ok;
map_send(Recv, I, N) ->
    Recv ! #{a => I, b => I * 2, s => <<"0123456789abcdef">>, d => I / 3.0},
    map_send(Recv, I + 1, N).

%% I: the a expected next.
map_recv(Main, Ref, I, N, Bad) when I > N ->
    Main ! {Ref, {now_ns(), Bad}};
map_recv(Main, Ref, I, N, Bad) ->
    receive
        #{a := A, b := B, s := S, d := D} ->
            Ok = A =:= I andalso B =:= 2 * A andalso byte_size(S) =:= 16
                andalso is_float(D),
            map_recv(Main, Ref, I + 1, N,
                     case Ok of
                         true -> Bad;
                         false -> Bad + 1
                     end)
    end.

%% ---- flood ------------------------------------------------------------------

flood(P) ->
    N = default(P#p.n, 6000000),
    V = sched_name(1),
    case want(V) of
        false ->
            0;
        true ->
            set_scheds(1),
            Main = self(),
            Ref = make_ref(),
            Recv = spawn(fun() -> flood_recv(Main, Ref) end),
            Src = spawn(fun() ->
                                receive go -> ok end,
                                send_loop(Recv, 1, N),
                                Recv ! {done, N},
                                Main ! {Ref, sent}
                        end),
            garbage_collect(),
            Mem0 = erlang:memory(total),
            Rss0 = rss_bytes(),
            Reset = reset_peak_rss(),
            T0 = now_ns(),
            Src ! go,
            receive
                {Ref, sent} -> ok
            after ?TIMEOUT ->
                fail("flood: the producer never finished", [])
            end,
            % the producer is done, the receiver has taken nothing yet
            Mem1 = erlang:memory(total),
            {T1, Sum} = await(Ref),
            Peak = peak_rss_bytes(),
            kill_all([Recv]),
            Expect = N * (N + 1) div 2,
            Sum =:= Expect orelse
                fail("flood: sum ~b, expected ~b", [Sum, Expect]),
            err("flood: ~b messages: peak RSS +~b B~s, "
                "erlang:memory(total) +~b B once all were sent",
                [N, Peak - Rss0,
                 case Reset of
                     ok -> "";
                     _ -> " (peak since the VM started: clear_refs failed)"
                 end,
                 Mem1 - Mem0]),
            row("flood", V, "bytes_per_msg", (Peak - Rss0) / max(N, 1), "B"),
            row("flood", V, "msgs_per_s", N / secs(T0, T1), "1/s"),
            0
    end.

flood_recv(Main, Ref) ->
    receive
        {done, N} -> count_loop(Main, Ref, N, 0)
    end.

%% Starts the peak RSS (VmHWM) afresh from the current RSS.
reset_peak_rss() ->
    file:write_file("/proc/self/clear_refs", <<"5">>).

peak_rss_bytes() ->
    {ok, Status} = file:read_file("/proc/self/status"),
    {match, [Kb]} = re:run(Status, "VmHWM:\\s*([0-9]+) kB",
                           [{capture, all_but_first, binary}]),
    binary_to_integer(Kb) * 1024.

%% ---- call -------------------------------------------------------------------

call(P) ->
    N = default(P#p.n, 100000),
    each_sched(P, fun(K) -> call_one(K, N) end).

call_one(K, N) ->
    V = sched_name(K),
    case want(V) of
        false ->
            0;
        true ->
            set_scheds(K),
            Srv = start_responder(false),
            Times = call_loop(Srv, 1, N, []),
            ok = gen_server:stop(Srv),
            length(Times) =:= N orelse
                fail("call ~s: ~b calls, expected ~b", [V, length(Times), N]),
            Sorted = list_to_tuple(lists:sort(Times)),
            row("call", V, "call_p50_us", pct(Sorted, 0.5) / 1000, "us"),
            row("call", V, "call_p99_us", pct(Sorted, 0.99) / 1000, "us"),
            row("call", V, "call_p999_us", pct(Sorted, 0.999) / 1000, "us"),
            0
    end.

call_loop(_, I, N, Times) when I > N ->
    Times;
call_loop(Srv, I, N, Times) ->
    T0 = now_ns(),
    R = gen_server:call(Srv, {ask, I}),
    T1 = now_ns(),
    R =:= 2 * I orelse fail("call: answer ~p to call ~b", [R, I]),
    call_loop(Srv, I + 1, N, [T1 - T0 | Times]).

%% ---- sends ------------------------------------------------------------------

sends(P) ->
    N = default(P#p.n, 6000000),
    A = default(P#p.actors, 60),
    V = sched_name(1),
    case want(V) of
        false ->
            0;
        true ->
            set_scheds(1),
            Main = self(),
            Ref = make_ref(),
            % the sender first: a plain process, none of the receivers
            Src = spawn(fun() -> sends_src(Main, Ref) end),
            Recvs = [spawn(fun() ->
                                   sends_recv(Main, Ref, J, A,
                                              sends_share(N, A, J), 0, 0)
                           end)
                     || J <- lists:seq(1, A)],
            garbage_collect(),
            Rss0 = rss_bytes(),
            Reset = reset_peak_rss(),
            % (monotonic time may be negative: T1 starts at a real time,
            % before the first send, not at 0)
            Before = now_ns(),
            Src ! {go, list_to_tuple(Recvs), N},
            {T0, T1, Got, Bad} = sends_gather(Ref, A, none, Before, 0, 0),
            Peak = peak_rss_bytes(),
            {Got, Bad} =:= {N, 0} orelse
                fail("sends: ~b messages counted (~b out of place), "
                     "expected ~b", [Got, Bad, N]),
            err("sends: ~b messages over ~b receivers: peak RSS +~b B~s",
                [N, A, Peak - Rss0,
                 case Reset of
                     ok -> "";
                     _ -> " (peak since the VM started: clear_refs failed)"
                 end]),
            row("sends", V, "msgs_per_s", N / secs(T0, T1), "1/s"),
            0
    end.

%% How many of I = 1..N go to receiver J of A.
sends_share(N, _, J) when J > N -> 0;
sends_share(N, A, J) -> (N - J) div A + 1.

sends_src(Main, Ref) ->
    receive
        {go, Recvs, N} ->
            T0 = now_ns(),
            sends_loop(Recvs, 1, tuple_size(Recvs), 1, N),
            Main ! {Ref, {sent, T0}}
    end.

sends_loop(_, _, _, I, N) when I > N ->
    ok;
sends_loop(Recvs, A, A, I, N) ->
    element(A, Recvs) ! {count, I},
    sends_loop(Recvs, 1, A, I + 1, N);
sends_loop(Recvs, J, A, I, N) ->
    element(J, Recvs) ! {count, I},
    sends_loop(Recvs, J + 1, A, I + 1, N).

%% Next: the I expected next; Left: how many more of them.
sends_recv(Main, Ref, _, _, 0, Got, Bad) ->
    Main ! {Ref, {counted, now_ns(), Got, Bad}};
sends_recv(Main, Ref, Next, A, Left, Got, Bad) ->
    receive
        {count, I} ->
            sends_recv(Main, Ref, Next + A, A, Left - 1, Got + 1,
                       case I of
                           Next -> Bad;
                           _ -> Bad + 1
                       end)
    end.

%% The sender's start time and every receiver's report, in any order.
sends_gather(_, 0, T0, T1, Got, Bad) when is_integer(T0) ->
    {T0, T1, Got, Bad};
sends_gather(Ref, Left, T0, T1, Got, Bad) ->
    receive
        {Ref, {sent, T}} ->
            sends_gather(Ref, Left, T, T1, Got, Bad);
        {Ref, {counted, T, G, B}} ->
            sends_gather(Ref, Left - 1, T0, max(T1, T), Got + G, Bad + B)
    after ?TIMEOUT ->
        fail("sends: timed out, ~b of the receivers still short (~b "
             "counted)", [Left, Got])
    end.
