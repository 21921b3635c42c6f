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
%% the variant names K (`1sched`, `2scheds`). With one scheduler online
%% every process runs on it; with two, the VM's own balancing and work
%% stealing decide where each process runs (Erlang cannot pin a process).
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
%%
%% Timing: erlang:monotonic_time/1; process creation and wiring are outside
%% the timed region. Exit 0 on success, 1 on a failed check or a timeout,
%% 2 on bad arguments.
-module(erlang_peer).
-export([main/0]).

-define(TIMEOUT, 120000).     % ms to wait for any one run
-define(SPAWN_WINDOW, 1000).  % children the spawner may have unaccounted
-define(PAGE, 4096).

-record(p, {n = 0, senders = 0, actors = 0, hops = 1000000, tasks = 8,
            fib = 32, workers = 2, variant = none}).

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
    err("usage: erlang_peer pingpong|counting|ring|spawn|forkjoin|big "
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
workload(_) -> undefined.

parse([], P) ->
    case P of
        #p{senders = S} when S < 0; S > 2 -> {error, "--senders must be 0..2"};
        #p{workers = W} when W < 1 -> {error, "--workers must be >= 1"};
        #p{n = N} when N < 0 -> {error, "--n must be >= 0"};
        #p{hops = H} when H < 1 -> {error, "--hops must be >= 1"};
        #p{tasks = T} when T < 1 -> {error, "--tasks must be >= 1"};
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

%% Rates as integers, seconds and speedups with three decimals.
row(W, V, M, Val, Unit) ->
    D = case M of
            "seconds" -> 3;
            "speedup" -> 3;
            _ -> 0
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

forkjoin(#p{tasks = T, fib = F, workers = W}) ->
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
