#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
int main(void){ pid_t pid=fork();
  if(!pid){ void*c=malloc(100); free(c); _exit(0);}
  waitpid(pid,0,0);
  for(int i=0;i<5;i++){void*q=malloc(200+i);free(q);}
  return 0;}
