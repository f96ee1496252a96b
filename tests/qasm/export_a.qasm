OPENQASM 2.0;
include "qelib1.inc";
// Qlynix circuit: 1 qubit (q0 is wire 0, the most significant bit), 1 input (x0, ...), 6 trained parameters written as numbers
// output 0: +1 Z[0]
gate q(x0) q0
{
  ry(0.10000000000000001*x0) q0;
  rz(5.989209674957694) q0;
  rx(2.550981153302625) q0;
  rz(2.4287465114581046) q0;
  rz(5.856938387317439) q0;
  rx(4.0431970680295395) q0;
  rz(5.9829523600084071) q0;
}
qreg q[1];
q(0.0) q[0];
