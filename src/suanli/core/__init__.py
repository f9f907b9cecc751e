"""The scheduling core that the simulator and the live control plane share.

* :mod:`.tables` — the fleet as integer-indexed lookup tables (prices, speeds, power);
* :mod:`.jobtable` — jobs as columns, and where each can run (:class:`~.jobtable.Candidate`);
* :mod:`.capacity`, :mod:`.sharing` — allocations on nodes and shared devices, power and
  quotas; a policy's tentative view (:class:`~.capacity.Capacity`); placement rules;
* :mod:`.policy` — the policy interface (what a policy sees, what it decides);
* :mod:`.state` — :class:`~.state.SchedulingState`: the queue, running jobs, their history
  and every transition, with :mod:`.views`, :mod:`.accounting` and :mod:`.invariants`;
* :mod:`.events` — the timers the state sets (and the simulator's event heap);
* :mod:`.loop` — :class:`~.loop.ControlLoop`: snapshot → decide → apply.

The simulator (:mod:`suanli.sim`) drives it in virtual time, the live control plane
(:mod:`suanli.control`) on the wall clock; neither has a copy of its logic.
"""
