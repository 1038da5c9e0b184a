%% Skynet: 1M leaves in a 10-ary tree of Erlang processes; each node sums its children's
%% answers received as messages. Answer: 499999500000 for 1M leaves.
%%
%% Usage: erlc skynet.erl && erl +P 4194304 -noshell -run skynet main [Leaves] [Reps] -s init stop
%% (+P: the default limit of 262144 processes is below the 1.1M of the tree)
%% Prints one line per repetition:
%%   skynet erlang leaves=1000000 result=499999500000 ns=123456789
-module(skynet).
-export([main/1, skynet/4]).

skynet(Parent, Num, 1, _Div) ->
    Parent ! {skynet, Num};
skynet(Parent, Num, Size, Div) ->
    Sub = Size div Div,
    Self = self(),
    [spawn(?MODULE, skynet, [Self, Num + I * Sub, Sub, Div]) || I <- lists:seq(0, Div - 1)],
    Parent ! {skynet, collect(Div, 0)}.

collect(0, Sum) -> Sum;
collect(N, Sum) ->
    receive {skynet, V} -> collect(N - 1, Sum + V) end.

main(Args) ->
    {Leaves, Reps} = case Args of
        [L, R | _] -> {list_to_integer(L), list_to_integer(R)};
        [L] -> {list_to_integer(L), 5};
        [] -> {1000000, 5}
    end,
    run(Leaves, Reps).

run(_Leaves, 0) -> ok;
run(Leaves, Reps) ->
    Start = erlang:monotonic_time(nanosecond),
    Self = self(),
    spawn(?MODULE, skynet, [Self, 0, Leaves, 10]),
    Result = receive {skynet, V} -> V end,
    Ns = erlang:monotonic_time(nanosecond) - Start,
    io:format("skynet erlang leaves=~p result=~p ns=~p~n", [Leaves, Result, Ns]),
    run(Leaves, Reps - 1).
